"""The hub process (JupyterHub from .hub/venv, which starts configurable-http-proxy) and its REST API.

`up` leaves the hub running in its own session (it outlives the command, like a service); the room folder
keeps its pid, log and settings, so `down` finds and stops it — and the proxy, if the hub died without
stopping it — from any shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from nimlab.errors import ServiceError
from nimlab.process import free_port, spawn, wait_ready
from nimlab.workshop.config import WorkshopConfig, repo_root


def hub_binary() -> Path:
    hub = repo_root() / ".hub" / "venv" / "bin" / "jupyterhub"
    proxy = repo_root() / ".hub" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
    for path in (hub, proxy):
        if not path.exists():
            raise ServiceError(f"{path.relative_to(repo_root())} is missing", hint="bash scripts/deps/32-hub.sh")
    return hub


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie (our own child, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _reap(pid: int) -> None:
    """Collect our own exited child (the hub, when `up` ran in this process) so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class Hub:
    """A running hub: where it answers and with which token."""

    url: str  # the public side (proxy), e.g. http://127.0.0.1:8010
    token: str
    pid: int

    def api(self, method: str, path: str, timeout: float = 30.0, **kwargs) -> httpx.Response:
        """One call to the hub's REST API with the workshop service's token; errors say what the hub said."""
        try:
            r = httpx.request(method, f"{self.url}/hub/api{path}", timeout=timeout,
                              headers={"Authorization": f"token {self.token}"}, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceError(f"the hub at {self.url} does not answer ({exc})", hint="nimlab workshop status") from exc
        if r.status_code >= 400:
            raise ServiceError(f"hub API {method} {path}: {r.status_code} {r.text[:200]}",
                               hint="read the hub log: nimlab workshop status --log")
        return r

    def add_learners(self, names: list[str]) -> None:
        existing = {u["name"] for u in self.api("GET", "/users").json()}
        new = [n for n in names if n not in existing]
        if new:
            self.api("POST", "/users", json={"usernames": new})

    def learner_token(self, name: str) -> str:
        """An API token for one learner (the instructor's tools act for the learner with it)."""
        r = self.api("POST", f"/users/{name}/tokens", json={"note": "nimlab workshop", "expires_in": 86400})
        return r.json()["token"]

    def spawn(self, name: str, timeout: float = 240.0) -> None:
        """Start the learner's container and wait until the hub says the server is ready."""
        r = self.api("POST", f"/users/{name}/server")
        if r.status_code not in (201, 202):
            raise ServiceError(f"spawning {name}: {r.status_code}", hint="nimlab workshop status --log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            user = self.api("GET", f"/users/{name}").json()
            server = user.get("servers", {}).get("", {})
            if server.get("ready"):
                return
            if not server.get("pending") and not server:
                raise ServiceError(f"{name}'s server stopped while starting", hint="nimlab workshop status --log")
            time.sleep(0.5)
        raise ServiceError(f"{name}'s server was not ready within {timeout:g} s", hint="nimlab workshop status --log")

    def stop_server(self, name: str, timeout: float = 60.0) -> None:
        self.api("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api("GET", f"/users/{name}").json().get("servers"):
                return
            time.sleep(0.5)
        raise ServiceError(f"{name}'s server did not stop within {timeout:g} s", hint="nimlab workshop down")

    def learners(self) -> Iterator[dict]:
        for u in self.api("GET", "/users").json():
            if u["kind"] == "user":
                yield u


def start(cfg: WorkshopConfig, hub_ip: str, token: str, password: str, timeout: float = 90.0) -> Hub:
    """Start JupyterHub (it starts its proxy) and wait until its API answers through the proxy."""
    binary = hub_binary()
    room = cfg.room_dir
    room.mkdir(parents=True, exist_ok=True)
    settings = cfg.settings(hub_ip=hub_ip, hub_port=free_port(), proxy_api_port=free_port())
    (room / "settings.json").write_text(json.dumps(settings, indent=2))
    (room / "room.json").write_text(cfg.to_json())
    env = {**os.environ, "NIMLAB_WORKSHOP_CONFIG": str(room / "settings.json"),
           "NIMLAB_WORKSHOP_ADMIN_TOKEN": token, "NIMLAB_WORKSHOP_PASSWORD": password,
           "PATH": f"{binary.parent}:{os.environ.get('PATH', '')}"}
    proc = spawn([str(binary), "-f", str(repo_root() / "workshop" / "jupyterhub_config.py")], room / "hub.log",
                 env, tied=False, append=True, cwd=room)
    hub = Hub(url=f"http://{'127.0.0.1' if cfg.bind == '0.0.0.0' else cfg.bind}:{cfg.port}", token=token, pid=proc.pid)
    try:
        wait_ready(proc, f"{hub.url}/hub/api/", room / "hub.log", timeout, what="the hub")
    except ServiceError:
        stop(cfg)
        raise
    return hub


def running(cfg: WorkshopConfig, token: str) -> Hub | None:
    """The room's hub if its process is alive (pid file written by JupyterHub itself)."""
    pid_file = cfg.room_dir / "jupyterhub.pid"
    if not pid_file.is_file():
        return None
    pid = int(pid_file.read_text().strip() or 0)
    if not pid or not _alive(pid):
        return None
    host = "127.0.0.1" if cfg.bind == "0.0.0.0" else cfg.bind
    return Hub(url=f"http://{host}:{cfg.port}", token=token, pid=pid)


def stop(cfg: WorkshopConfig, grace: float = 90.0) -> list[str]:
    """SIGTERM the hub (it stops every learner's server and its proxy), then make sure both are gone."""
    stopped = []
    for pid_name, what in (("jupyterhub.pid", "hub"), ("jupyterhub-proxy.pid", "proxy")):
        pid_file = cfg.room_dir / pid_name
        if not pid_file.is_file():
            continue
        pid = int(pid_file.read_text().strip() or 0)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while _alive(pid) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.2)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
            stopped.append(what)
        pid_file.unlink(missing_ok=True)
    return stopped


def tail(cfg: WorkshopConfig, n: int = 20) -> str:
    log = cfg.room_dir / "hub.log"
    if not log.is_file():
        return "(no hub log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
