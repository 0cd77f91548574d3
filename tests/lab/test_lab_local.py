"""`nimlab lab up|status|logs|down` with the local backend: the README's first command, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nimlab.lab.launch import free_port
from nimlab.lab.local import port_in_use

pytestmark = pytest.mark.slow


def lab(action: str, env: dict[str, str], timeout: float = 300, services: tuple[str, ...] = ()
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nimlab", "lab", action, *services], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


# where else the labs could be sent (labkit reads these before the port map): unset for a moved-ports course
URL_VARIABLES = ("NIM_URL", "NIMLAB_NIM_URL", "TRITON_OPENAI_URL", "NIMLAB_TRITON_OPENAI_URL", "TRITON_HTTP_URL",
                 "NIMLAB_TRITON_HTTP_URL", "NIMLAB_STACK")
RUN_NOTEBOOK = """import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
print("".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])))
"""


def run_lab(stem: str, env: dict[str, str]) -> str:
    """A lab notebook, unchanged, with nbclient in a kernel that sees `env` and none of URL_VARIABLES."""
    labs = Path(__file__).resolve().parents[2] / "labs"
    clean = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    done = subprocess.run([sys.executable, "-c", RUN_NOTEBOOK, str(labs / f"{stem}.ipynb"), str(labs)],
                          capture_output=True, text=True, timeout=360, env={**clean, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def pids(state: Path) -> dict[str, int]:
    return {f.stem: json.loads(f.read_text())["pid"] for f in state.glob("*.json")}


def test_up_status_down_leaves_nothing_behind(tmp_path):
    port = free_port()
    triton = {name: free_port() for name in ("TRITON_HTTP", "TRITON_GRPC", "TRITON_METRICS", "TRITON_OPENAI",
                                             "DOCS", "JUPYTER")}
    env = {"NIMLAB_STATE_DIR": str(tmp_path), "NIMLAB_PORT_NIM": str(port),
           **{f"NIMLAB_PORT_{k}": str(v) for k, v in triton.items()}}
    try:
        up = lab("up", env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Selected profile:" in up.stdout, "start-up shows the profile decision as it happens"
        assert f"http://127.0.0.1:{port}/v1" in up.stdout
        assert f"http://127.0.0.1:{triton['TRITON_OPENAI']}/v1" in up.stdout
        assert httpx.get(f"http://127.0.0.1:{port}/v1/health/ready").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{triton['TRITON_HTTP']}/v2/health/ready").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{triton['TRITON_OPENAI']}/v1/health/ready").status_code == 200

        assert re.search(r"^\[lab\] +[\d.]+s nim +ready", up.stdout, re.M), "progress: per-service ready lines"
        assert f"http://127.0.0.1:{triton['DOCS']}/start-here/" in up.stdout, "the final screen says what to open"

        first = pids(tmp_path)
        again = lab("up", env, timeout=60)  # idempotent: finds the running services, starts nothing new
        assert again.returncode == 0 and pids(tmp_path) == first and len(first) == 5
        assert again.stdout.count("reused") == 5

        status = lab("status", env)
        assert status.returncode == 0, status.stdout
        for name in ("docs", "jupyter", "nim", "triton", "triton-openai"):
            assert any(line.split()[:2] == [name, "ready"] for line in status.stdout.splitlines()), status.stdout
        assert "nimlab_native-cpu-int8-tp1-pp1-throughput" in status.stdout

        # every port moved, nothing else set: lab 1 finds the NIM and both Triton endpoints by the same variables
        lab1 = run_lab("01-two-stacks", env)
        assert f"http://127.0.0.1:{port}/v1" in lab1 and "selectedModelProfileId:" in lab1, lab1[:600]
        assert f"http://127.0.0.1:{triton['TRITON_HTTP']}" in lab1 and "server ready: True" in lab1, lab1[:1200]

        logs = lab("logs", env)
        assert "Selected profile:" in logs.stdout
    finally:
        down = lab("down", env)
    assert down.returncode == 0 and "nim" in down.stdout and "triton-openai" in down.stdout and "jupyter" in down.stdout
    assert not any(port_in_use(p) for p in (port, *triton.values()))
    after = lab("status", env)
    assert after.returncode == 1 and "stopped" in after.stdout


def test_up_refuses_a_port_taken_by_someone_else_before_starting_anything(tmp_path):
    import socket

    docs = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = lab("up", {"NIMLAB_STATE_DIR": str(tmp_path), "NIMLAB_PORT_NIM": str(port),
                         "NIMLAB_PORT_DOCS": str(docs)}, timeout=60, services=("docs", "nim"))
    assert out.returncode == 1
    assert f"port {port} for nim is already in use" in out.stderr and "next:" in out.stderr
    assert "NIMLAB_PORT_NIM=<free port>" in out.stderr
    assert not list(tmp_path.glob("*.json")) and not port_in_use(docs), "nothing was started"


def test_site_and_jupyterlab_answer_and_down_frees_every_port(tmp_path):
    """The two services command 1 adds for learners: the site over HTTP, JupyterLab with its token on
    labs/ and exercises/ only; `up` twice keeps the same processes; `down` frees their ports and a kernel's."""
    docs, jl = free_port(), free_port()
    env = {"NIMLAB_STATE_DIR": str(tmp_path), "NIMLAB_PORT_DOCS": str(docs), "NIMLAB_PORT_JUPYTER": str(jl)}
    kernel_ports: list[int] = []
    try:
        up = lab("up", env, timeout=240, services=("docs", "jupyter"))
        assert up.returncode == 0, up.stdout + up.stderr
        token = (tmp_path / "jupyter.token").read_text().strip()
        assert f"http://127.0.0.1:{jl}/lab/tree/labs/01-two-stacks.ipynb?token={token}" in up.stdout

        home = httpx.get(f"http://127.0.0.1:{docs}/", timeout=10)
        assert home.status_code == 200 and "nimlab: take the NIM or build the stack?</title>" in home.text
        assert httpx.get(f"http://127.0.0.1:{docs}/start-here/", timeout=10).status_code == 200

        api = f"http://127.0.0.1:{jl}/api"
        auth = {"Authorization": f"token {token}"}
        assert httpx.get(f"{api}/status", timeout=10).status_code == 403, "no token, no access"
        assert httpx.get(f"{api}/status", headers=auth, timeout=10).status_code == 200
        top = httpx.get(f"{api}/contents", headers=auth, timeout=10).json()
        assert sorted(c["name"] for c in top["content"]) == ["exercises", "labs"], "no solutions/, no source"
        labs = httpx.get(f"{api}/contents/labs", headers=auth, timeout=10).json()
        assert "01-two-stacks.ipynb" in {c["name"] for c in labs["content"]}
        exercises = httpx.get(f"{api}/contents/exercises", headers=auth, timeout=10).json()
        assert "01-buy-or-build" in {c["name"] for c in exercises["content"]}

        kernel = httpx.post(f"{api}/kernels", headers=auth, json={"name": "python3"}, timeout=60).json()
        conn = tmp_path / "jupyter-runtime" / f"kernel-{kernel['id']}.json"
        deadline = time.monotonic() + 30
        while not conn.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        info = json.loads(conn.read_text())
        kernel_ports = [info[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")]

        first = pids(tmp_path)
        again = lab("up", env, timeout=60, services=("docs", "jupyter"))
        assert again.returncode == 0 and pids(tmp_path) == first and again.stdout.count("reused") == 2
    finally:
        down = lab("down", env, timeout=60)
    assert down.returncode == 0 and "docs" in down.stdout and "jupyter" in down.stdout
    assert not any(port_in_use(p) for p in (docs, jl)), "down frees the service ports"
    deadline = time.monotonic() + 10  # the kernel leaves with its server (shut down, or its parent gone)
    while any(port_in_use(p) for p in kernel_ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(port_in_use(p) for p in kernel_ports), "no kernel lingers on a port"


def test_up_names_an_unknown_service_and_what_to_do(tmp_path):
    out = lab("up", {"NIMLAB_STATE_DIR": str(tmp_path)}, timeout=60, services=("jupyterlab",))
    assert out.returncode == 1
    assert "no lab service named jupyterlab" in out.stderr and "next: choose from: docs, jupyter, nim" in out.stderr


def test_a_recorded_pid_now_owned_by_another_process_is_never_signalled(tmp_path):
    """After a reboot or crash the pid in a record may belong to someone else: `up` must not reuse it and
    `down` must not signal it (the record keeps the process's start time to tell them apart)."""
    from nimlab.lab.local import LocalBackend

    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / "nim.json").write_text(json.dumps({"pid": stranger.pid, "port": free_port(), "url": "http://x",
                                                       "health": "/", "started_at": "1"}))
        backend = LocalBackend(tmp_path)
        assert backend.running_pid("nim") is None and backend.status("nim").state == "failed"
        assert backend.stop("nim") and not (tmp_path / "nim.json").exists()
        assert stranger.poll() is None, "down signalled a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()
