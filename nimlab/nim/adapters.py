"""LoRA serving for the course NIM: scan NIM_PEFT_SOURCE, load good adapters into the engine, refuse bad
ones with a message, and (with NIM_PEFT_REFRESH_INTERVAL) pick up new, changed and removed adapters.

A bad adapter never takes the service down: it is logged at start-up (or at the refresh that found it),
left out of /v1/models, and a request that names it gets a 404 carrying the reason.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nimlab.errors import ConfigError
from nimlab.lora.adapters import SMOLLM2_135M, Adapter, AdapterProblem, ModelShape, scan

if TYPE_CHECKING:
    from nimlab.engine import Engine

log = logging.getLogger("nimlab.nim")

DEFAULT_MAX_RANK = 32


def check_source(source: Path) -> None:
    """Start-up check of NIM_PEFT_SOURCE itself (a bad variable stops start-up, like any other)."""
    if not source.is_dir():
        raise ConfigError(f"NIM_PEFT_SOURCE={source} is not a directory",
                          hint="create it (one sub-folder per adapter) or unset NIM_PEFT_SOURCE")


@dataclass(frozen=True)
class Loaded:
    adapter: Adapter
    stamp: tuple[float, float]  # mtimes of config and weights: a change means reload


class AdapterManager:
    """Keeps the engine's adapters in step with the folder; the API asks it what a model name means."""

    def __init__(self, engine: Engine, source: Path, max_rank: int, served_name: str,
                 shape: ModelShape = SMOLLM2_135M) -> None:
        self.engine = engine
        self.source = source
        self.max_rank = max_rank
        self.served_name = served_name
        self.shape = shape
        self._loaded: dict[str, Loaded] = {}
        self._problems: dict[str, AdapterProblem] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def adapters(self) -> tuple[Adapter, ...]:
        return tuple(self._loaded[n].adapter for n in sorted(self._loaded))

    def problem(self, name: str) -> AdapterProblem | None:
        return self._problems.get(name)

    def refresh(self) -> None:
        """One scan: load what is new or changed, unlist what disappeared, report what is broken."""
        with self._lock:
            if not self.source.is_dir():
                log.error("NIM_PEFT_SOURCE %s is gone; keeping the %d adapter(s) already loaded",
                          self.source, len(self._loaded))
                return
            found = scan(self.source, self.shape, self.max_rank, self.served_name)
            problems = {p.name: p for p in found.problems}
            for adapter in found.adapters:
                stamp = _stamp(adapter.path)
                current = self._loaded.get(adapter.name)
                if current is not None and current.stamp == stamp:
                    continue
                try:
                    self.engine.add_adapter(adapter.name, adapter.path)
                except Exception as exc:  # peft refused it: same treatment as a failed check
                    problems[adapter.name] = AdapterProblem(adapter.name, adapter.path, f"peft could not load it ({exc})",
                                                            "save the adapter again with peft's save_pretrained")
                    continue
                self._loaded[adapter.name] = Loaded(adapter, stamp)
                log.info("LoRA adapter '%s' %s from %s (rank %d, alpha %g, modules %s)", adapter.name,
                         "reloaded" if current else "loaded", adapter.path, adapter.rank, adapter.alpha,
                         ",".join(adapter.targets))
            gone = set(self._loaded) - {a.name for a in found.adapters}
            for name in sorted(gone):
                self.engine.remove_adapter(name)
                del self._loaded[name]
                log.info("LoRA adapter '%s' unlisted: its folder is gone or no longer valid", name)
            for name, p in problems.items():
                if self._problems.get(name) != p:
                    log.error("%s", p.render())
            self._problems = problems

    def watch(self, interval: float) -> None:
        """Re-scan every `interval` seconds on a daemon thread until stop()."""
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - a scan failure must not end the watcher
                    log.exception("LoRA refresh failed")

        threading.Thread(target=loop, name="nimlab-peft-refresh", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def _stamp(folder: Path) -> tuple[float, float]:
    return ((folder / "adapter_config.json").stat().st_mtime, (folder / "adapter_model.safetensors").stat().st_mtime)
