"""`nimlab lab up`'s engine: start what is not running, fill the model cache once, wait for every service,
and show it happening — one line per state change with the seconds since `up` began, the key start-up
lines of each log, and a heartbeat naming what is still loading.

Services that need no model (site, JupyterLab) start first and build/load while the model cache fills; the
model services then start together, each loading the cached fp32 weights, instead of one after another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nimlab.errors import NimlabError, ServiceError
from nimlab.lab.local import LocalBackend
from nimlab.lab.services import ServiceSpec

KEY_LINES = ("Selected profile", "Model loaded", "Engine warm", "Detected", "error", "Error",
             "Building the site", "Built the site", "Site up to date", "Starting JupyterLab")


@dataclass(frozen=True)
class ServiceReady:
    """A service `lab up` saw answer its health URL (the grader's sandbox.Outcome is a job's result, not this)."""

    name: str
    pid: int
    reused: bool  # was already running: left alone
    ready_s: float  # seconds after `up` began


class _LogFollower:
    """New complete lines of a service's log since `up` started it (the log file is appended across runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode(errors="replace").splitlines()


class _ModelGate(threading.Thread):
    """Opens once the shared fp32 model cache is filled: at once when it already is; when it is empty, after
    the course NIM starting beside us has filled it (or, without one, after filling it here) — so the GGUF
    is dequantized once, not by every model process at the same time on the same cores."""

    def __init__(self, filler_starting: bool) -> None:
        super().__init__(daemon=True)
        self.filler_starting = filler_starting
        self.filler_settled = threading.Event()  # set by the caller when the filler is ready (or absent)
        self.error: NimlabError | None = None

    @staticmethod
    def filled() -> bool:
        """The exact layout this checkout loads (a file check: no torch import)."""
        from nimlab.engine.weights import cache_filled, default_cache

        return cache_filled(default_cache())

    def run(self) -> None:
        from nimlab.model_cache import prepare_model_cache

        while self.filler_starting and not self.filled() and not self.filler_settled.wait(0.5):
            pass
        try:
            prepare_model_cache()  # a file check when the cache is filled; fills it otherwise
        except NimlabError as exc:
            self.error = exc


def bring_up(backend: LocalBackend, specs: Sequence[ServiceSpec], emit: Callable[[str], None] = print,
             heartbeat_s: float = 10.0, poll_s: float = 0.5) -> list[ServiceReady]:
    """Start every spec that is not already running and wait until all answer their health URL."""
    t0 = time.monotonic()

    def say(msg: str) -> None:
        emit(f"[lab] {time.monotonic() - t0:5.1f}s {msg}")

    outcomes: dict[str, ServiceReady] = {}
    for spec in specs:
        pid = backend.running_pid(spec.name)
        if pid is not None and backend.status(spec.name).state == "ready":
            outcomes[spec.name] = ServiceReady(spec.name, pid, True, 0.0)
            say(f"{spec.name:14} already running (pid {pid}): reused")
    waiting = [s for s in specs if s.name not in outcomes]
    if not waiting:
        return [outcomes[s.name] for s in specs]
    for spec in waiting:  # every port first, so a taken one stops `up` before anything starts
        if backend.running_pid(spec.name) is None:
            backend.check_port(spec)

    started: dict[str, tuple[ServiceSpec, float, _LogFollower, bool]] = {}

    def start(spec: ServiceSpec) -> None:
        follower = _LogFollower(backend.log_path(spec.name))
        was_running = backend.running_pid(spec.name) is not None
        pid = backend.start(spec)
        started[spec.name] = (spec, time.monotonic(), follower, was_running)
        verb = "still starting" if was_running else "starting"
        say(f"{spec.name:14} {verb} (pid {pid}) {spec.what}; log {backend.log_path(spec.name)}")

    chosen = {s.name for s in specs}
    gate: _ModelGate | None = None
    if any(s.needs_model for s in waiting):
        if _ModelGate.filled():
            say("model          weights cache ready")
        else:
            gate = _ModelGate(filler_starting=any(s.fills_model for s in waiting))
            gate.start()
            say("model          waiting for the fp32 weights cache (the first start dequantizes the GGUF)")

    last_beat = time.monotonic()
    while len(outcomes) < len(specs):
        if gate is not None and not gate.is_alive():
            if gate.error is not None:
                raise gate.error
            say("model          weights cache ready")
            gate = None
        for spec in waiting:
            if spec.name in started or (spec.needs_model and gate is not None):
                continue
            if not spec.after or spec.after not in chosen or spec.after in outcomes:
                start(spec)
        for name, (spec, began, follower, was_running) in list(started.items()):
            if name in outcomes:
                continue
            for line in follower.new_lines():
                if any(k in line for k in KEY_LINES):
                    say(f"{name:14} | {line.split('] ', 1)[-1].strip()}")
            st = backend.status(name)
            if st.state == "ready":
                outcomes[name] = ServiceReady(name, st.pid or 0, was_running, time.monotonic() - t0)
                say(f"{name:14} ready    {spec.link}")
                if gate is not None and spec.fills_model:
                    gate.filler_settled.set()  # the cache is as full as the filler will make it
            elif st.state != "starting":
                raise ServiceError(f"{name} exited during start-up; last log lines:\n{backend.tail(name, 15)}",
                                   hint=f"read {backend.log_path(name)} and fix what it says; "
                                        "`nimlab lab down` stops the rest")
            elif time.monotonic() - began > spec.ready_timeout_s:
                raise ServiceError(f"{name} was not ready after {spec.ready_timeout_s:.0f} s",
                                   hint=f"read {backend.log_path(name)}; `nimlab lab down` stops it")
        if time.monotonic() - last_beat >= heartbeat_s and len(outcomes) < len(specs):
            last_beat = time.monotonic()
            pending = [n for n in (s.name for s in specs) if n not in outcomes]
            say("waiting for " + ", ".join(pending))
        time.sleep(poll_s)
    return [outcomes[s.name] for s in specs]
