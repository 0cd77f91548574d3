"""The multi-user workshop for real: JupyterHub 6.1.1 with its configurable-http-proxy, DockerSpawner starting
one container per learner from nimlab/workshop:0.1.0 on a real Docker engine, learners logging in with the
room's shared password, lab cells run over each server's kernel websocket through the proxy, the real lab
notebooks (1, 2, 4, 5) executed unchanged with nbclient inside a learner's container against the room's shared
NIM and hand-built stack, submissions saved through the Jupyter contents API, collected from the work volumes
and batch-graded by `nimlab grade`.

Needs the engine and images (scripts/deps/30-docker.sh, 31-lab-images.sh) and the hub (32-hub.sh); every room
here has its own name prefix, network and free ports, and `down` must leave no container, network, volume,
process or port. The first tests need no engine: bad settings fail in one line before anything starts.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from nimlab.errors import ConfigError, ServiceError
from nimlab.process import free_port
from nimlab.workshop import room
from nimlab.workshop.cli import down, nim_cell, status, up
from nimlab.workshop.config import WorkshopConfig, repo_root, secret
from nimlab.workshop.labs import run_in_container, stems
from nimlab.workshop.learner import LearnerServer

ROOT = repo_root()
EX1 = "exercises/01-buy-or-build/answer.py"


# ---- bad settings: one line, with the next step, before anything starts ----------------------------------

@pytest.mark.parametrize(("kwargs", "needle", "hint"), [
    ({"nim_mode": "both"}, "not a NIM placement", "--nim shared"),
    ({"mem_limit": "lots"}, "not a memory size", "1G"),
    ({"cpu_limit": 0}, "outside what this machine has", "--cpus"),
    ({"name": "Room 1"}, "Docker name prefix", "lowercase"),
    ({"learners": ("ann", "Bob!")}, "'Bob!'", "lowercase"),
    ({"port": 70000}, "not a TCP port", "--port"),
])
def test_bad_settings_fail_in_one_line(kwargs: dict, needle: str, hint: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        WorkshopConfig(state_dir=tmp_path, **kwargs)
    assert needle in str(err.value) and hint in err.value.hint
    assert "\n" not in str(err.value)


def test_short_password_and_missing_room_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIMLAB_WORKSHOP_PASSWORD", "short")
    with pytest.raises(ConfigError, match="at least 8") as err:
        secret(tmp_path, "password", "NIMLAB_WORKSHOP_PASSWORD", make=True)
    assert "export NIMLAB_WORKSHOP_PASSWORD" in err.value.hint
    cli = subprocess.run([sys.executable, "-m", "nimlab", "workshop", "status", "--name", "nope",
                          "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1
    assert "no workshop room named 'nope'" in cli.stderr and "nimlab workshop up" in cli.stderr


def test_hub_config_without_settings_exits_with_the_fix() -> None:
    hub = ROOT / ".hub" / "venv" / "bin" / "python"
    if not hub.exists():
        pytest.fail("the hub venv is missing; fix: bash scripts/deps/32-hub.sh", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIMLAB_WORKSHOP")}
    run = subprocess.run([str(hub), "-c", "get_config = lambda: None; exec(open('workshop/jupyterhub_config.py').read())"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "NIMLAB_WORKSHOP_CONFIG is not set; fix: start the hub with `nimlab workshop up`" in run.stderr


def test_labs_are_named_by_number_and_an_unknown_one_says_which_exist() -> None:
    assert stems(["1", "04", "05-buy-vs-build-money"]) == ["01-two-stacks", "04-fallback-incident",
                                                          "05-buy-vs-build-money"]
    with pytest.raises(ServiceError, match="no lab '9'") as err:
        stems(["9"])
    assert "--labs 1,2,4" in err.value.hint and "07" in str(err.value)


# ---- the room, for real ----------------------------------------------------------------------------------

def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def engine() -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("the Docker engine is not reachable; fix: bash scripts/deps/30-docker.sh", pytrace=False)
    if subprocess.run(["docker", "image", "inspect", "nimlab/workshop:0.1.0"], capture_output=True).returncode != 0:
        build = subprocess.run(["bash", "-c", "bash scripts/deps/31-lab-images.sh && bash scripts/deps/32-hub.sh"],
                               cwd=ROOT, capture_output=True, text=True, timeout=2400)
        assert build.returncode == 0, f"building the workshop image failed:\n{build.stdout[-3000:]}"


def left_behind(cfg: WorkshopConfig) -> list[str]:
    """Everything of the room still in Docker, on its port, or as a process."""
    things = docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"name={cfg.name}").split()
    things += docker("network", "ls", "--format", "{{.Name}}", "--filter", f"name={cfg.name}").split()
    things += docker("volume", "ls", "--format", "{{.Name}}", "--filter", f"name={cfg.name}").split()
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", cfg.port)) == 0:
            things.append(f"port {cfg.port}")
    for proc in Path("/proc").iterdir():  # the hub and its proxy run with the room's folder as their cwd
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == cfg.room_dir:
                things.append(f"process {proc.name}: {(proc / 'cmdline').read_text().replace(chr(0), ' ')[:80]}")
        except OSError:
            continue
    return things


def login(hub_url: str, name: str, password: str) -> httpx.Response:
    """The login form, as a browser submits it (xsrf cookie + field); returns the final response."""
    with httpx.Client(base_url=hub_url, follow_redirects=False, timeout=30) as client:
        page = client.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        return client.post("/hub/login", data={"username": name, "password": password, "_xsrf": xsrf})


PARTIAL = '''"""Always the default: right only for a stock deployment."""
VERDICTS = ("take_nim", "nim_with_lora", "build", "build_portable", "build_or_negotiate")


def classify(scenario: dict) -> dict:
    return {"verdict": "take_nim", "reasons": ["standard_deployment"]}
'''
WRONG = '''def classify(scenario: dict) -> dict:
    return {"verdict": "it depends", "reasons": []}
'''


# the labs a room runs, and what each must show when run in a learner's container (docs/instructor/workshop.md)
ROOM_LABS = ("1", "2", "4", "5")


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_three_learners_shared_nim_real_labs_submissions_and_grades(engine, tmp_path: Path) -> None:
    # lab 4 starts two NIMs of its own in the learner's container, one of them must see 2 CPUs: the room is
    # sized as the instructor page says for it (--mem 3G --cpus 2)
    cfg = WorkshopConfig(name=f"nimlab-hub-test-{secrets.token_hex(3)}", port=free_port(),
                         learners=("ann", "bob", "cat"), state_dir=tmp_path / "rooms", mem_limit="3G",
                         cpu_limit=2.0, nim_cpu_limit=float(os.cpu_count() or 1))
    timings: dict[str, float] = {}
    try:
        began = time.monotonic()
        hub = up(cfg)
        timings["up"] = time.monotonic() - began
        password = (cfg.room_dir / "password").read_text().strip()
        running = left_behind(cfg)  # the same check that must come back empty after down sees the live room
        assert f"port {cfg.port}" in running and sum(t.startswith("process") for t in running) == 2, running
        assert {cfg.nim_container, cfg.triton_container, cfg.frontend_container} <= set(running), running

        # the authenticator: a wrong password is refused, the room's password lets a learner in
        assert login(hub.url, "ann", "not-the-password").status_code == 403
        ok = login(hub.url, "ann", password)
        assert ok.status_code == 302 and "jupyterhub-session-id" in ok.cookies
        assert login(hub.url, "mallory", password).status_code == 403  # not on the roster

        # three containers at once, each with the limits asked for
        began = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(hub.spawn, cfg.learners))
        timings["spawn 3"] = time.monotonic() - began
        for name in cfg.learners:
            # DockerSpawner sets cpu_limit as a CFS quota over the default 100 ms period
            host = docker("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}} {{.HostConfig.Init}}",
                          f"{cfg.name}-{name}").split()
            assert host == [str(3 * 2**30), "200000", "true"], host
        # the labkit scheme's room variables, as the learner's processes see them (docker exec gets the same)
        env = dict(line.split("=", 1) for line in docker("exec", f"{cfg.name}-ann", "env").splitlines() if "=" in line)
        assert {k: env.get(k) for k in cfg.learner_env()} == cfg.learner_env(), env
        assert env["NIMLAB_TRITON_OPENAI_URL"] == "http://triton-openai:9000/v1"

        servers = {n: LearnerServer(hub.url, n, hub.learner_token(n)) for n in cfg.learners}
        # a lab cell in each learner's kernel: the OpenAI SDK against the room's shared NIM
        with ThreadPoolExecutor(3) as pool:
            cells = dict(zip(cfg.learners, pool.map(lambda s: s.run(nim_cell(), timeout=240), servers.values()),
                             strict=True))
        answers = {n: c.stdout.strip() for n, c in cells.items()}
        assert all(not c.error for c in cells.values()), {n: c.error for n, c in cells.items()}
        assert len(set(answers.values())) == 1 and "Paris" in answers["ann"], answers  # greedy: same answer
        assert cells["ann"].outputs == [] and servers["ann"].run("6 * 7").result == "42"

        # the real labs, unchanged, with nbclient inside ann's container: her image, variables, network, limits
        began = time.monotonic()
        runs = {r.lab.split("-", 1)[0]: r for r in run_in_container(f"{cfg.name}-ann", stems(list(ROOM_LABS)))}
        timings["labs " + ",".join(ROOM_LABS)] = time.monotonic() - began
        timings |= {f"lab {n}": r.seconds for n, r in runs.items()}
        assert sorted(runs) == ["01", "02", "04", "05"]
        assert all(r.ok for r in runs.values()), {n: r.error for n, r in runs.items() if not r.ok}
        lab1, lab2, lab4 = runs["01"].stdout, runs["02"].stdout, runs["04"].stdout
        # lab 1 found both shared stacks by the room's variables, and Triton listed its loaded models
        assert "http://nim:8000/v1" in lab1 and "http://triton:8001" in lab1 and "server ready: True" in lab1, lab1
        assert "identical: True" in lab2, lab2  # one client, two endpoints, the same greedy tokens
        # lab 4 started its own fallback and misconfigured NIMs beside the room's NIM and told them apart; the
        # healthy one may read as slow under the room's neighbours (its probe against a baseline taken earlier)
        verdicts = dict(ln.split(maxsplit=1) for ln in lab4.splitlines()
                        if ln.startswith(("healthy ", "fallback ", "misconfigured ")))
        assert verdicts["fallback"].startswith("('fallback'") and verdicts["misconfigured"].startswith(
            "('misconfigured'"), lab4[-1500:]
        assert verdicts["healthy"].startswith(("('healthy'", "('slow'")), lab4[-1500:]
        assert runs["04"].images == 1 and runs["05"].images >= 1
        # resident memory of the room's parts after the labs (the instructor page sizes rooms with it). The NIM
        # maps part of its weights from the image's cache files (measured: resident ~690 MiB, stats ~420): docker
        # stats counts mapped pages as page cache, resident memory counts them, and `nimlab workshop status`
        # shows the resident figure
        use = {u.name.removeprefix(cfg.name + "-"): u for u in room.usage(cfg, resident=True)}
        print("workshop resident MiB:", {n: round(u.rss_mib) for n, u in use.items()})
        peak = docker("exec", f"{cfg.name}-ann", "sh", "-c", "cat /sys/fs/cgroup/memory.peak "
                      "/sys/fs/cgroup/memory/memory.max_usage_in_bytes 2>/dev/null").split()
        print("ann's container peak (cgroup, page cache included) MiB:", [int(p) >> 20 for p in peak])
        assert use["nim"].rss_mib > 500 and use["triton"].rss_mib > 500, use
        shown = {ln.split(")")[0].strip() + ")": float(ln.split()[3]) for ln in status(cfg).splitlines()
                 if ln.strip().startswith("(shared")}
        # status shows the resident figure (an idle service's memory hardly moves between the two readings)
        assert abs(shown["(shared NIM)"] - use["nim"].rss_mib) < 0.15 * use["nim"].rss_mib, (shown, use["nim"])
        assert shown["(shared Triton)"] > 500, shown

        # a learner's token opens only their own server
        with pytest.raises(ServiceError, match="403"):
            LearnerServer(hub.url, "bob", servers["ann"].token).read(EX1)

        # submissions, saved as JupyterLab saves a file (ann's is graded after her labs ran in the same container)
        assert "NotImplementedError" in servers["ann"].read(EX1)  # seeded from the learner bundle
        servers["ann"].save(EX1, (ROOT / "solutions/01-buy-or-build/answer.py").read_text())
        servers["bob"].save(EX1, PARTIAL)
        servers["cat"].save(EX1, WRONG)

        from nimlab.workshop.collect import collect, grade

        out = tmp_path / "submissions"
        collected = {c.learner: c for c in collect(cfg, out)}
        assert sorted(collected) == ["ann", "bob", "cat"]
        assert (out / "bob" / EX1).read_text() == PARTIAL
        began = time.monotonic()
        rows = {r["submission"]: r for r in grade(out, tmp_path / "gradebook.csv", ["-e", "1"])}
        timings["grade 3"] = time.monotonic() - began
        total = {n: float(rows[n]["total"]) for n in ("ann", "bob", "cat")}
        top = float(rows["ann"]["max_total"])
        assert total["ann"] == top > total["bob"] > total["cat"] == 0, rows
        assert (tmp_path / "results" / "bob.json").is_file()
    finally:
        began = time.monotonic()
        down(cfg, remove_volumes=True)
        timings["down"] = time.monotonic() - began
        print("workshop timings (s):", {k: round(v, 1) for k, v in timings.items()})
    assert left_behind(cfg) == []
