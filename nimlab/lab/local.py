"""Local backend: services as detached processes of this machine, with pid and log files in a state folder."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import httpx

from nimlab.errors import ServiceError
from nimlab.lab.backend import ServiceStatus, status_table
from nimlab.lab.services import ServiceSpec, state_dir
from nimlab.process import port_in_use, spawn, stop_pid_group

__all__ = ["LocalBackend", "ServiceStatus", "port_in_use", "state_dir", "status_table"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def _started_at(pid: int) -> str:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), so a pid reused after a reboot or a
    crash is not mistaken for our service (and never signalled); "" where /proc is not there."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _ours(rec: dict) -> bool:
    """The recorded process is still the one we started."""
    return _alive(rec["pid"]) and rec.get("started_at", "") in ("", _started_at(rec["pid"]))


class LocalBackend:
    """Starts each service with its own process group so `down` can stop it and everything it spawned."""

    name = "local"

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or state_dir()

    def _pidfile(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def log_path(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def _record(self, name: str) -> dict | None:
        try:
            return json.loads(self._pidfile(name).read_text())
        except (OSError, ValueError):
            return None

    def running_pid(self, name: str) -> int | None:
        """The pid of `name` if this backend started it and it is still alive (ready or not)."""
        rec = self._record(name)
        return rec["pid"] if rec and _ours(rec) else None

    def check_port(self, spec: ServiceSpec) -> None:
        """Refuse a port another program holds, naming who to ask and which variable moves ours."""
        if port_in_use(spec.port):
            move = f" or move {spec.name} with {spec.port_var}=<free port>" if spec.port_var else ""
            raise ServiceError(f"port {spec.port} for {spec.name} is already in use by another program",
                               hint=f"stop it (`ss -ltnp 'sport = :{spec.port}'` shows who){move}")

    def start(self, spec: ServiceSpec) -> int:
        pid = self.running_pid(spec.name)
        if pid is not None:
            return pid  # already running: `up` is idempotent
        self.check_port(spec)
        proc = spawn(spec.argv, self.log_path(spec.name), {**spec.env, "PYTHONUNBUFFERED": "1"}, tied=False,
                     append=True)  # detached: the service outlives `nimlab lab up`
        self._pidfile(spec.name).write_text(json.dumps({"pid": proc.pid, "port": spec.port, "url": spec.url,
                                                         "health": spec.health_path, "started": time.time(),
                                                         "started_at": _started_at(proc.pid)}))
        return proc.pid

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        rec = self._record(name)
        if not rec:
            return False
        pid = rec["pid"]
        if _ours(rec):
            stop_pid_group(pid, _alive, timeout)
        self._pidfile(name).unlink(missing_ok=True)
        port = rec.get("port")
        deadline = time.monotonic() + 5
        while port and port_in_use(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        if port and port_in_use(port):
            raise ServiceError(f"port {port} is still in use after stopping {name}",
                               hint=f"`ss -ltnp 'sport = :{port}'` shows who holds it")
        return True

    def status(self, name: str) -> ServiceStatus:
        rec = self._record(name)
        if not rec:
            return ServiceStatus(name, "stopped", "", None)
        if not _ours(rec):
            return ServiceStatus(name, "failed", rec["url"], rec["pid"], f"exited; see {self.log_path(name)}")
        try:
            ok = httpx.get(rec["url"] + rec["health"], timeout=1.0).status_code == 200
        except httpx.HTTPError:
            ok = False
        return ServiceStatus(name, "ready" if ok else "starting", rec["url"], rec["pid"])

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json"))

    def tail(self, name: str, n: int = 50) -> str:
        try:
            lines = self.log_path(name).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])
