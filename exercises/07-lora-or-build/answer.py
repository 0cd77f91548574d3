"""Exercise 7: the middle row of the verdict table. Would NIM serve these adapters on an optimized profile?"""

from __future__ import annotations

VERDICTS = ("take_nim", "nim_with_lora", "build")
SUPPORTED_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def plan(scenario: dict) -> dict:
    """Return {"verdict", "reasons", "profile", "refused"} for `scenario` (see README.md)."""
    raise NotImplementedError("write plan()")
