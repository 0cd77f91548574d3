"""What "acceptable" means for a lower-precision profile: the two limits a team signs off on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    max_score_drop: float = 0.05  # fraction of the evaluation set: 0.05 = five points
    min_token_agreement: float = 0.90  # teacher-forced top-1 agreement with the reference
