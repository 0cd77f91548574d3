"""Launch a service as a child process for the span of a `with` block (tests, benchmarks, the grader).

Start, poll readiness with a deadline, fail fast (with the log tail) if the child dies, and on exit
terminate the whole process group, then kill what remains, so nothing lingers on a port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from nimlab.errors import ServiceError


def die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it if the launching process dies, so a
    killed test run or benchmark cannot leave a server holding a port (Linux only; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def launched(argv: Sequence[str], url: str, health_path: str, env: dict[str, str] | None = None,
             timeout: float = 180.0, preexec_argv: Sequence[str] = ()) -> Iterator[Running]:
    """Run `argv` (optionally behind e.g. `taskset -c 0`) until the block ends."""
    log_file = tempfile.NamedTemporaryFile(prefix="nimlab-", suffix=".log", delete=False)  # noqa: SIM115
    log_path = Path(log_file.name)
    proc = subprocess.Popen([*preexec_argv, *argv], stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
                            start_new_session=True, preexec_fn=die_with_parent)
    log_file.close()
    running = Running(proc, url, log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise ServiceError(f"{argv[0]} exited with status {proc.returncode} during start-up:\n"
                                   + "\n".join(running.log().splitlines()[-20:]),
                                   hint=f"read {log_path}")
            try:
                if httpx.get(url + health_path, timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServiceError(f"not ready after {timeout:.0f} s: {url}{health_path}", hint=f"read {log_path}")
            time.sleep(0.25)
        yield running
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def course_nim(port: int | None = None, env: dict[str, str] | None = None, cpus: str | None = None,
               timeout: float = 180.0) -> Iterator[Running]:
    """A course NIM on 127.0.0.1:`port`; `cpus="0"` runs it under `taskset -c 0` (one usable CPU)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "nimlab", "serve", "--host", "127.0.0.1", "--port", str(port)]
    pre = ["taskset", "-c", cpus] if cpus is not None else []
    with launched(argv, f"http://127.0.0.1:{port}", "/v1/health/ready", env=env, timeout=timeout,
                  preexec_argv=pre) as running:
        yield running
