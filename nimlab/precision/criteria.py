"""What "acceptable" means for a lower-precision profile: the two limits a team signs off on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    max_score_drop: float = 0.05  # fraction of the evaluation set: 0.05 = five points
    # teacher-forced top-1 agreement with the reference: 1.0 for fp32 against itself; measured 0.79 for the
    # calibrated int8 profile and 0.51 for int8 without calibration, whose replies drift into other answers
    min_token_agreement: float = 0.75
