"""Sandbox step 2, unprivileged and offline: one child per exercise runs its calls; each is reported as JSON.

Reports travel on a pipe the grader reads; the grader, not this process, decides scores, so anything the
submission does to this process can only lose its own points. Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import resource
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
        return f"your code called sys.exit({exc.code!r}); a test cannot pass that way"
    if isinstance(exc, CallTimeout):
        return "this call ran out of time"
    return f"{type(exc).__name__}: {str(exc)[:500]}"


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


def _run_calls(part: dict, calls_in: Any, report: Any) -> None:
    """In the part's own child process: take calls one at a time from the runner, load the learner's file
    lazily, run each call and report it. A call's inputs reach this process only when the call starts, so
    nothing can carry a later (hidden) call's inputs into an earlier (public) call's answer."""
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


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _read_line(fd: int, deadline: float, cap: int = 4 << 20) -> bytes | None:
    """One line from the child before the deadline, or None (timeout, end of stream, or an oversized line)."""
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or len(buf) > cap:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            buf += chunk
    return buf.split(b"\n", 1)[0]


def _run_part(part: dict, report: Any, own_pid_namespace: bool) -> dict[str, Any]:
    """Fork one child for this exercise and feed it its calls one by one, relaying each answer only if it is
    the answer to the call outstanding; then clear every process it left behind."""
    print(f"\n=== nimlab part: {part['name']} ===", flush=True)
    calls = part["calls"]
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report.fileno())
            os.close(down_w)
            os.close(up_r)
            public = {k: part[k] for k in ("name", "entry", "call_timeout_s", "memory_mb", "timeout_s")}
            part.clear()  # the other calls' inputs must not linger in this process's memory
            calls.clear()
            os.setpgid(0, 0)
            mem = public["memory_mb"] << 20
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            cpu = int(public["timeout_s"]) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            os.chdir(os.path.dirname(os.path.abspath(public["entry"])))
            sys.stdout, sys.stderr = CappedText(sys.__stdout__), CappedText(sys.__stderr__)
            with os.fdopen(down_r, "r") as calls_in, os.fdopen(up_w, "w", buffering=1) as up:
                _run_calls(public, calls_in, up)
        finally:
            os._exit(0)
    os.close(down_r)
    os.close(up_w)
    deadline = time.monotonic() + part["timeout_s"]
    status: dict[str, Any] = {"part": part["name"], "status": "timeout"}
    with os.fdopen(down_w, "w", buffering=1) as down:
        for call in calls:
            try:
                down.write(json.dumps(call) + "\n")
                down.flush()
            except OSError:
                break
            line = _read_line(up_r, deadline)
            if line is None:
                break
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not isinstance(rec, dict) or rec.get("id") != call["id"]:
                rec = {"id": call["id"], "ok": False, "error": "your code wrote over the grader's channel"}
            report.write(json.dumps(rec) + "\n")
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
    with contextlib.suppress(OSError):
        if own_pid_namespace:
            os.kill(-1, signal.SIGKILL)  # every other process in this namespace (same uid), fork bombs included
        else:
            os.killpg(pid, signal.SIGKILL)  # weak mode: the part's process group only
    _reap()
    return status


def main() -> None:
    cfg = json.loads(sys.argv[1])
    with open(cfg["job"]) as f:
        job = json.load(f)  # read while still root: the job file (root, 0600) is unreadable to the submission
    if cfg.get("confine"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from _bootstrap import confine

        sys.path.pop(0)
        confine(cfg)
    import ctypes

    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: children of the same uid cannot read our memory
    report = os.fdopen(cfg["fd"], "w", buffering=1)
    for b in job.get("bridges", []):
        _bridge(b["port"], b["socket"])
    for part in job["parts"]:
        report.write(json.dumps(_run_part(part, report, bool(cfg.get("namespaces")))) + "\n")
        report.flush()
    report.write(json.dumps({"done": True}) + "\n")
    report.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
