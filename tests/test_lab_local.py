"""`nimlab lab up|status|logs|down` with the local backend: the README's first command, end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from nimlab.lab.launch import free_port
from nimlab.lab.local import port_in_use

pytestmark = pytest.mark.slow


def lab(action: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nimlab", "lab", action], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


def test_up_status_down_leaves_nothing_behind(tmp_path):
    port = free_port()
    triton = {name: free_port() for name in ("TRITON_HTTP", "TRITON_GRPC", "TRITON_METRICS", "TRITON_OPENAI")}
    env = {"NIMLAB_STATE_DIR": str(tmp_path), "NIM_SERVER_PORT": str(port),
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

        again = lab("up", env, timeout=60)  # idempotent: finds the running services, starts nothing new
        assert again.returncode == 0 and len(list(tmp_path.glob("*.json"))) == 3

        status = lab("status", env)
        assert status.returncode == 0, status.stdout
        for name in ("nim", "triton", "triton-openai"):
            assert any(line.split()[:2] == [name, "ready"] for line in status.stdout.splitlines()), status.stdout
        assert "nimlab_inflight-cpu-fp32-tp1-pp1-throughput" in status.stdout

        logs = lab("logs", env)
        assert "Selected profile:" in logs.stdout
    finally:
        down = lab("down", env)
    assert down.returncode == 0 and "nim" in down.stdout and "triton-openai" in down.stdout
    assert not any(port_in_use(p) for p in (port, *triton.values()))
    after = lab("status", env)
    assert after.returncode == 1 and "stopped" in after.stdout


def test_up_refuses_a_port_taken_by_someone_else(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = lab("up", {"NIMLAB_STATE_DIR": str(tmp_path), "NIM_SERVER_PORT": str(port)}, timeout=60)
    assert out.returncode == 1
    assert f"port {port} for nim is already in use" in out.stderr and "next:" in out.stderr
