"""Sandbox runner, standard library only. Two roles, chosen by argv[1]:

* `job` (the job's first process, privileged inside its namespaces): reads the job from stdin, joins the job's
  cgroups, builds the allow-listed root and pivots into it, bridges live services, then for each exercise
  forks a child that isolates itself further and *execs a fresh interpreter* (`exercise` role): the learner's
  code never runs in a process that held another exercise's calls, or even this exercise's later ones;
* `exercise`: loads the learner's file and answers the calls handed to it one at a time.

Reports travel on a pipe the grader reads; the grader, not this process, decides scores, so anything the
submission does here can only lose its own points.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import importlib.util
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import Any

OUTPUT_CAP = 64 * 1024
_boot: Any = None  # the _bootstrap module, imported by the job role only


class CallTimeout(BaseException):
    """Raised by the per-call timer."""


class CappedText(io.TextIOBase):
    """Keeps the first OUTPUT_CAP characters a submission prints and drops the rest (huge output stays cheap)."""

    def __init__(self, real: Any) -> None:
        self.real, self.left = real, OUTPUT_CAP

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if self.left > 0:
            chunk = s[: self.left]
            self.left -= len(chunk)
            self.real.write(chunk if self.left > 0 else chunk + "\n[output truncated]\n")
            self.real.flush()
        return len(s)


def _jsonable(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        raise TypeError("value nests too deeply")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v, depth + 1) for v in value), key=repr)
    raise TypeError(f"returned a {type(value).__name__}, which is not plain data (dict, list, str, number, bool)")


def _learner_trace(exc: BaseException, entry: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == entry]
    lines = [f"  {os.path.basename(f.filename)}, line {f.lineno}, in {f.name}: {f.line}" for f in frames[-5:]]
    return "\n".join(lines)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return "your code called sys.exit(); a test cannot pass that way"
    if isinstance(exc, CallTimeout):
        return "this call ran out of time"
    try:
        text = str(exc)[:500]
    except Exception:  # noqa: BLE001 - a learner's __str__ can raise anything
        text = "(its message could not be shown)"
    return f"{type(exc).__name__[:80]}: {text}"


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        return
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _bridge(port: int, path: str) -> None:
    """127.0.0.1:port inside this offline namespace -> a Unix socket the grader forwards to one live service."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)

    def serve() -> None:
        while True:
            conn, _ = srv.accept()
            up = socket.socket(socket.AF_UNIX)
            try:
                up.connect(path)
            except OSError:
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=_pump, args=(up, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


# ---- exercise role: a fresh interpreter with the learner's code ----------------------------------------------


def _run_calls(part: dict, calls_in: Any, report: Any) -> None:
    """Take calls one at a time, load the learner's file lazily, run each call and report it."""
    entry = os.path.abspath(part["entry"])
    module: Any = None
    import_error: dict[str, str] | None = None

    def on_alarm(signum: int, frame: Any) -> None:
        raise CallTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    for raw in calls_in:
        call = json.loads(raw)
        started = time.monotonic()
        rec: dict[str, Any] = {"id": call["id"]}
        try:
            if "function" in call:
                if module is None and import_error is None:
                    try:
                        sys.path.append(os.path.dirname(entry))
                        spec = importlib.util.spec_from_file_location("submission", entry)
                        if spec is None or spec.loader is None:
                            raise ImportError(f"cannot load {os.path.basename(entry)}")
                        module = importlib.util.module_from_spec(spec)
                        signal.signal(signal.SIGALRM, on_alarm)
                        signal.setitimer(signal.ITIMER_REAL, part["call_timeout_s"])
                        spec.loader.exec_module(module)
                    except BaseException as exc:  # noqa: BLE001 - the learner's import can raise anything
                        import_error = {"error": "importing your file failed: " + _describe(exc),
                                        "trace": _learner_trace(exc, entry)}
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                if import_error is not None:
                    rec.update(ok=False, **import_error)
                else:
                    fn = getattr(module, call["function"], None)
                    if not callable(fn):
                        raise AttributeError(f"your file has no function {call['function']}()")
                    signal.signal(signal.SIGALRM, on_alarm)
                    signal.setitimer(signal.ITIMER_REAL, part["call_timeout_s"])
                    try:
                        value = fn(*call.get("args", []), **call.get("kwargs", {}))
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    rec.update(ok=True, value=_jsonable(value))
            elif "argv" in call:
                p = subprocess.run(call["argv"], env=call.get("env", {}), capture_output=True,
                                   timeout=part["call_timeout_s"], stdin=subprocess.DEVNULL)
                rec.update(ok=True, value={"returncode": p.returncode,
                                           "stdout": p.stdout[:OUTPUT_CAP * 4].decode(errors="replace"),
                                           "stderr": p.stderr[:OUTPUT_CAP].decode(errors="replace")})
            else:
                rec.update(ok=False, error="unknown call")
        except BaseException as exc:  # noqa: BLE001
            rec.update(ok=False, error=_describe(exc), trace=_learner_trace(exc, entry))
        rec["seconds"] = round(time.monotonic() - started, 4)
        try:
            line = json.dumps(rec)
        except (TypeError, ValueError) as exc:
            line = json.dumps({"id": call["id"], "ok": False, "error": f"result is not plain data: {exc}"})
        report.write(line + "\n")
        report.flush()


def exercise_main(part: dict) -> None:
    """The `exercise` role: fd 3 brings calls, fd 4 takes answers; stdout/stderr are the job's output."""
    sys.stdout, sys.stderr = CappedText(sys.__stdout__), CappedText(sys.__stderr__)
    try:
        with os.fdopen(3, "r") as calls_in, os.fdopen(4, "w", buffering=1) as up:
            _run_calls(part, calls_in, up)
    finally:
        os._exit(0)


# ---- job role ---------------------------------------------------------------------------------------------------


class _Lines:
    """Lines from the exercise's answer pipe, buffered (two lines may arrive in one read)."""

    def __init__(self, fd: int, cap: int = 4 << 20) -> None:
        self.fd, self.cap, self.buf = fd, cap, b""

    def next(self, deadline: float) -> bytes | None:
        """The next line before the deadline, or None (timeout, end of stream, or a line over the cap)."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or len(self.buf) > self.cap:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def _answer(lines: _Lines, call_id: str, deadline: float) -> dict[str, Any] | None:
    """The first line that answers `call_id`; anything else the code wrote onto the channel (garbage, a nesting
    bomb, an answer to some other call) is skipped. None if no answer comes before the deadline."""
    while (line := lines.next(deadline)) is not None:
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(rec, dict) and rec.get("id") == call_id:
            return rec
    return None


def _spawn(part: dict, job: dict, down_r: int, up_w: int) -> int:
    """Fork, isolate (bootstrap.enter_exercise) and exec a fresh interpreter for one exercise."""
    ex = part["exercise"]
    public = {"entry": ex["entry"], "call_timeout_s": part["call_timeout_s"]}
    argv = [job["python"], "-I", "-B", "-X", "frozen_modules=on", job["runner"], "exercise", json.dumps(public)]
    pid = os.fork()
    if pid == 0:
        try:
            hi_r, hi_w = fcntl.fcntl(down_r, fcntl.F_DUPFD, 100), fcntl.fcntl(up_w, fcntl.F_DUPFD, 100)
            os.dup2(hi_r, 3)  # through high numbers: either pipe end may itself be fd 3 or 4
            os.dup2(hi_w, 4)
            os.closerange(5, 65536)
            os.setsid()
            _boot.enter_exercise(ex)
            os.execve(argv[0], argv, ex["env"])
        except BaseException:  # noqa: BLE001 - the sandbox's own failure: for the instructor's eyes
            traceback.print_exc()
        finally:
            os._exit(127)
    return pid


def _kill_leftovers(job: dict, pid: int, uid: int) -> None:
    """Every process the exercise left behind, by namespace (all of them but this one) or by uid."""
    if job["mode"] in ("namespaces", "userns", "bwrap"):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            try:
                os.kill(-1, signal.SIGKILL)  # as pid 1 of this pid namespace: everyone else in it
            except ProcessLookupError:
                break
            _reap()
            time.sleep(0.001)
    elif os.geteuid() == 0:
        _boot.scrub_uids({uid})
    else:
        _kill_descendants()
    _reap()


def _kill_descendants() -> None:
    """Weak mode as an ordinary user: this runner is a child subreaper, so even a double-forked, setsid daemon
    is re-parented to it; kill every descendant until none is left."""
    for _ in range(200):
        mine = _boot.descendants(os.getpid())
        if not mine:
            return
        for p in mine:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        _reap()
        time.sleep(0.002)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _run_part(part: dict, job: dict, report: Any) -> dict[str, Any]:
    """Start one exercise's interpreter, hand it its calls one by one (relaying each answer only if it answers
    the call outstanding), then clear every process it left behind."""
    print(f"\n=== nimlab part: {part['name']} ===", flush=True)
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    pid = _spawn(part, job, down_r, up_w)
    os.close(down_r)
    os.close(up_w)
    deadline = time.monotonic() + part["timeout_s"]
    status: dict[str, Any] = {"part": part["name"], "status": "timeout"}
    lines = _Lines(up_r)
    with os.fdopen(down_w, "w", buffering=1) as down:
        for call in part["calls"]:
            try:
                down.write(json.dumps(call) + "\n")
                down.flush()
            except OSError:
                break
            rec = _answer(lines, call["id"], deadline)
            if rec is None:
                break
            try:
                text = json.dumps(rec)
            except (ValueError, TypeError, RecursionError):
                text = json.dumps({"id": call["id"], "ok": False, "error": "your answer could not be read"})
            report.write(text + "\n")
            report.flush()
    while time.monotonic() < deadline:
        done, wstatus = os.waitpid(pid, os.WNOHANG)
        if done:
            if os.WIFSIGNALED(wstatus):
                status.update(status="signal", signal=os.WTERMSIG(wstatus))
            else:
                status.update(status="exit", returncode=os.waitstatus_to_exitcode(wstatus))
            break
        time.sleep(0.005)
    os.close(up_r)
    _kill_leftovers(job, pid, part["exercise"]["uid"])
    return status


def job_main(cfg: dict) -> None:
    job = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # fd 0 stays taken, so no pipe of ours ends up there
    os.close(devnull)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import ctypes

    global _boot
    import _bootstrap as _boot  # type: ignore[import-not-found]  # before the host's paths disappear

    libc = ctypes.CDLL(None)
    _boot.join_cgroups(cfg.get("cgroups", []))
    _boot.oom_score(-1000)  # where allowed: the job's out-of-memory kills hit the exercise, never its runner
    if cfg.get("view"):
        _boot.build_root(cfg["view"], cfg["stage"])
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no process of the submission can read this one's memory
    if job["mode"] == "weak":
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of the submission come back here
    report = os.fdopen(cfg["fd"], "w", buffering=1)
    for b in job.get("bridges", []):
        _bridge(b["port"], b["socket"])
    for part in job["parts"]:
        report.write(json.dumps(_run_part(part, job, report)) + "\n")
        report.flush()
    report.write(json.dumps({"done": True}) + "\n")
    report.flush()
    os._exit(0)


def main() -> None:
    role = sys.argv[1]
    if role == "exercise":
        exercise_main(json.loads(sys.argv[2]))
    else:
        job_main(json.loads(sys.argv[2]))


if __name__ == "__main__":
    main()
