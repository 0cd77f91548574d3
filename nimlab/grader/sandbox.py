"""Run one job (every exercise of one submission) isolated, and always come back with an outcome.

Isolation, from the outside in:
  * a fresh process tree in new net, mount and pid namespaces (`unshare`), killed as a whole on timeout;
    inside, one child process per exercise with its own deadline, CPU and memory limits, and every process
    it left behind killed before the next exercise starts (a crash or hang costs only that exercise);
  * no network: the namespace has only its own loopback; live services are bridged in one Unix socket each;
  * hidden paths (solutions, the grader's work area) covered by empty read-protected tmpfs mounts, and private
   empty /tmp, /var/tmp and /dev/shm, so nothing written there outlives the job or reaches another one;
  * a throwaway uid (no passwd entry, no groups) that owns nothing but the job's own copy of the files;
  * rlimits on address space, CPU time, file size, processes and open files;
  * a minimal environment (no variables of the grader leak in) and `python -I` (no sitecustomize, no user site,
    no script dir on sys.path: a submission's conftest.py / sitecustomize.py / json.py is never imported).
The grader reads call reports from a pipe and scores them itself: the sandbox never sees expected values.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimlab.errors import ServiceError

HERE = Path(__file__).resolve().parent
UID_BASE, UID_SPAN = 62000, 3000
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # world-writable: each sandbox gets its own empty, small ones
_uids = itertools.count()
_uid_lock = threading.Lock()
_root: Path | None = None


@dataclass(frozen=True)
class Limits:
    """Limits for the whole sandbox; each part (exercise) also has its own time and memory limits."""

    fsize_mb: int = 16
    nproc: int = 128
    nofile: int = 256


@dataclass(frozen=True)
class Part:
    """The calls of one exercise on the learner's files for it, run in that exercise's own child process."""

    name: str
    files: Path  # the learner's files for this exercise (already a sanitized copy)
    entry: str  # relative to files
    calls: list[dict[str, Any]]
    timeout_s: float = 30.0
    call_timeout_s: float = 10.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class Job:
    parts: tuple[Part, ...]
    limits: Limits = Limits()
    hide: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # base URLs (http://127.0.0.1:PORT) reachable from inside


SIGNAL_WORDS = {signal.SIGXFSZ: "it wrote more data than allowed", signal.SIGXCPU: "it used too much CPU time",
                signal.SIGKILL: "it was killed (out of memory or limits)",
                signal.SIGSEGV: "it crashed (segmentation fault)", signal.SIGABRT: "it aborted"}


@dataclass
class Outcome:
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: bool = False
    timed_out: bool = False
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0

    def part_output(self, name: str) -> str:
        marker = f"=== nimlab part: {name} ===\n"
        if marker not in self.output:
            return ""
        return self.output.split(marker, 1)[1].split("\n=== nimlab part: ", 1)[0]

    def stop_reason(self, name: str) -> str:
        """Learner-facing words for why this part's calls without a report never ran ("" if it ended normally)."""
        st = self.parts.get(name)
        if st is None:
            if self.timed_out:
                return "your code ran past the time limit, so the grader stopped it"
            return "the grader's sandbox stopped before this exercise ran (your instructor has the details)"
        if st["status"] == "timeout":
            return "your code ran past the time limit, so the grader stopped it"
        if st["status"] == "signal":
            return "your program stopped early: " + SIGNAL_WORDS.get(st["signal"], f"signal {st['signal']}")
        return f"your program exited before this test ran (exit status {st.get('returncode')})"


_mode: str | None = None


def sandbox_mode() -> str:
    """"namespaces" (the default, needs root and unshare) or "weak" (rlimits, a separate process and, as root,
    another uid: for running inside a container that is itself the sandbox, like Gradescope's).
    NIMLAB_SANDBOX=namespaces|auto|weak chooses; auto falls back to weak when namespaces are unavailable."""
    global _mode
    if _mode is None:
        want = os.environ.get("NIMLAB_SANDBOX", "namespaces")
        if want not in ("namespaces", "auto", "weak"):
            raise ServiceError(f"NIMLAB_SANDBOX={want!r}", hint="use namespaces, auto or weak")
        ok = want != "weak" and os.geteuid() == 0 and subprocess.run(
            ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "true"],
            capture_output=True).returncode == 0
        if ok:
            _mode = "namespaces"
        elif want == "namespaces":
            raise ServiceError("the grader's sandbox needs root and `unshare` (Linux namespaces), unavailable here",
                               hint="grade as root on Linux, or set NIMLAB_SANDBOX=auto inside a container that is "
                                    "already a sandbox (Gradescope)")
        else:
            _mode = "weak"
    return _mode


def grade_root() -> Path:
    """A root-owned work area other sandboxes cannot list (0711); each job gets an unguessable subfolder."""
    global _root
    if _root is None or not _root.exists():
        base = os.environ.get("NIMLAB_GRADE_ROOT") or ("/run" if os.access("/run", os.W_OK) else None)
        _root = Path(tempfile.mkdtemp(prefix="nimlab-grade-", dir=base))
        os.chmod(_root, 0o711)
        atexit.register(shutil.rmtree, _root, True)
    return _root


def _python_roots() -> list[str]:
    """Where this interpreter and its libraries live (resolved), so the sandbox can run it as another uid."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    return sorted(roots)


def _next_uid() -> int:
    with _uid_lock:
        return UID_BASE + next(_uids) % UID_SPAN


def _chown_tree(path: Path, uid: int) -> None:
    os.chown(path, uid, uid)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, uid)


class _Bridge:
    """Grader side of a bridge: accepts on a Unix socket, connects to one live service on 127.0.0.1."""

    def __init__(self, sock_path: Path, url: str) -> None:
        host_port = url.split("://", 1)[-1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"live services must be on 127.0.0.1, not {host}")
        self.target, self.port = ("127.0.0.1", int(port)), int(port)
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(str(sock_path))
        os.chmod(sock_path, 0o777)
        self.srv.listen(32)
        self.srv.settimeout(0.5)
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from nimlab.grader._runner import _pump

        while not self.closed:
            try:
                conn, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            try:
                up = socket.create_connection(self.target, timeout=5)
                up.settimeout(None)
            except OSError:
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=_pump, args=(up, conn), daemon=True).start()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.srv.close()


def _drain(stream: Any, keep: int, sink: list[bytes]) -> None:
    total = 0
    while chunk := stream.read(65536):
        if total < keep:
            sink.append(chunk[: keep - total])
        total += len(chunk)
    if total > keep:
        sink.append(f"\n[{total - keep} more bytes of output dropped]".encode())


def _read_reports(fd: int, out: Outcome, cap: int = 8 * 1024 * 1024) -> None:
    seen = 0
    with os.fdopen(fd, "rb") as f:
        for raw in f:
            seen += len(raw)
            if seen > cap:
                break
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            if rec.get("done") is True:
                out.finished = True
            elif isinstance(rec.get("part"), str) and "status" in rec:
                out.parts[rec["part"]] = rec  # later wins: the runner writes it after the child is gone
            elif isinstance(rec.get("id"), str) and rec["id"] not in out.reports:
                out.reports[rec["id"]] = rec  # first report per call wins


def run_job(job: Job) -> Outcome:
    started = time.monotonic()
    uid = _next_uid()
    job_dir = grade_root() / secrets.token_hex(12)
    job_dir.mkdir(mode=0o700)
    bridges: list[_Bridge] = []
    out = Outcome()
    try:
        files = job_dir / "files"
        files.mkdir()
        parts = []
        for part in job.parts:
            shutil.copytree(part.files, files / part.name, symlinks=True)
            parts.append({"name": part.name, "entry": str(files / part.name / part.entry), "calls": part.calls,
                          "timeout_s": part.timeout_s, "call_timeout_s": part.call_timeout_s,
                          "memory_mb": part.memory_mb})
        mode = sandbox_mode()
        if os.geteuid() == 0:
            _chown_tree(job_dir, uid)
        spec = []
        for i, url in enumerate(job.services if mode == "namespaces" else ()):
            b = _Bridge(job_dir / f"svc{i}.sock", url)
            bridges.append(b)
            spec.append({"port": b.port, "socket": str(job_dir / f"svc{i}.sock")})
        job_file = job_dir / "job.json"
        job_file.write_text(json.dumps({"parts": parts, "bridges": spec}))
        os.chmod(job_file, 0o600)
        if os.geteuid() == 0:
            os.chown(job_file, 0, 0)
        stage = job_dir / "stage"
        stage.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(stage, 0, 0)
        r, w = os.pipe()
        lim = job.limits
        cfg = {
            "confine": True, "namespaces": mode == "namespaces", "job": str(job_file), "fd": w,
            "hide": list(job.hide), "scratch": [d for d in SCRATCH if not str(job_dir).startswith(d + "/")],
            "reveal": _python_roots(), "keep": [str(HERE.parents[1])], "stage": str(stage), "uid": uid,
            "cwd": str(files),
            "limits": {"fsize": lim.fsize_mb << 20, "nproc": lim.nproc, "nofile": lim.nofile},
            "env": {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(files),
                    "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"},
        }
        argv = [sys.executable, "-I", str(HERE / "_runner.py"), json.dumps(cfg)]
        if mode == "namespaces":
            argv = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", *argv]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(w,), start_new_session=True, cwd="/", env={"PATH": "/usr/bin:/bin"})
        os.close(w)
        sink: list[bytes] = []
        readers = [threading.Thread(target=_read_reports, args=(r, out), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stdout, 65536, sink), daemon=True)]
        for t in readers:
            t.start()
        try:
            out.returncode = proc.wait(timeout=sum(p.timeout_s for p in job.parts) + 10)
        except subprocess.TimeoutExpired:
            out.timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out.returncode = proc.wait()
        for t in readers:
            t.join(timeout=5)
        out.output = b"".join(sink).decode(errors="replace")
    finally:
        for b in bridges:
            b.close()
        shutil.rmtree(job_dir, ignore_errors=True)
        out.seconds = round(time.monotonic() - started, 3)
    return out
