"""Child processes on the ground floor: start one in its own process group, poll its health URL, stop the
group. One start -> poll -> stop sequence for every service nimlab launches (course NIMs in tests and
benchmarks, tritonserver, the OpenAI front end, the grader's Triton, the lab's detached services).

Start: a new session (so the whole group can be signalled) whose leader the kernel SIGTERMs if the launcher
dies. Poll: readiness with a deadline, failing fast with the log tail if the child exits. Stop: a polite
signal (SIGTERM, or SIGINT for tritonserver's graceful unload), a grace period, then SIGKILL to whatever is
left in the group, so nothing lingers on a port.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from nimlab.errors import ServiceError


def die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM it if the launching thread dies, so a killed
    test run or benchmark cannot leave a server holding a port (Linux only; a no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class Running:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def spawn(argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None, *,
          tied: bool = True, append: bool = False, cwd: Path | None = None) -> subprocess.Popen:
    """Start `argv` in a new process group, stdout and stderr to `log_path`. `tied`: it dies with the
    launching thread (tests, benchmarks); the lab's detached services and a workshop's hub outlive the
    command that starts them."""
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, start_new_session=True, cwd=cwd,
                                preexec_fn=die_with_parent if tied else None)


def tail(log_path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 180.0, what: str = "") -> None:
    """Poll `url` until it answers 200; ServiceError with the log tail if the child exits or time runs out."""
    what = what or Path(str(proc.args[0] if isinstance(proc.args, list) else proc.args)).name
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with status {proc.returncode} during start-up:\n{tail(log_path)}",
                               hint=f"read {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise ServiceError(f"{what} not ready after {timeout:.0f} s: {url}\n{tail(log_path)}",
                               hint=f"read {log_path}")
        time.sleep(0.25)


def stop_group(proc: subprocess.Popen, grace: float = 15.0, first: signal.Signals = signal.SIGTERM) -> None:
    """`first` to the leader's group (SIGINT: to the leader alone, as tritonserver wants for a graceful
    unload), wait up to `grace` seconds, then SIGKILL the whole group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if first == signal.SIGINT:
                proc.send_signal(first)
            else:
                os.killpg(proc.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def stop_pid_group(pid: int, alive: Callable[[int], bool], grace: float = 15.0) -> None:
    """stop_group for a process this one did not start (the lab's detached services, known by pid file)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # whatever remains of the group


@contextlib.contextmanager
def launched(argv: Sequence[str], url: str, health_path: str, env: Mapping[str, str] | None = None,
             timeout: float = 180.0, preexec_argv: Sequence[str] = (), log_path: Path | None = None,
             stop_signal: signal.Signals = signal.SIGTERM, grace: float = 15.0) -> Iterator[Running]:
    """Run `argv` (optionally behind e.g. `taskset -c 0`) until the block ends: start, poll
    `url + health_path`, yield, stop the group."""
    if log_path is None:
        with tempfile.NamedTemporaryFile(prefix="nimlab-", suffix=".log", delete=False) as f:
            log_path = Path(f.name)
    proc = spawn([*preexec_argv, *argv], log_path, {**(env or {}), "PYTHONUNBUFFERED": "1"})
    try:
        wait_ready(proc, url + health_path, log_path, timeout, what=Path(argv[0]).name)
        yield Running(proc, url, log_path)
    finally:
        stop_group(proc, grace, stop_signal)
