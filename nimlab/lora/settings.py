"""Training settings for a course adapter (no torch here: the CLI builds its help text from these)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from nimlab.errors import ConfigError
from nimlab.lora.tasks import TASKS, Task


@dataclass(frozen=True)
class TrainConfig:
    task: str = "acme-style"
    steps: int = 20
    rank: int = 8
    alpha: int = 16
    learning_rate: float = 4e-3
    batch_size: int = 4
    seed: int = 0
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def checked_task(self) -> Task:
        if self.task not in TASKS:
            raise ConfigError(f"unknown training task {self.task!r}", hint=f"use one of {', '.join(TASKS)}")
        if not 1 <= self.steps <= 2000 or not 1 <= self.rank <= 256 or not 1 <= self.batch_size <= 64:
            raise ConfigError("steps must be 1-2000, rank 1-256 and batch size 1-64",
                              hint="pick smaller numbers: the defaults train in minutes")
        return TASKS[self.task]
