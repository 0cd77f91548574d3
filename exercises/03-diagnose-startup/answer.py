"""Exercise 3: read a NIM start-up log (plus metrics and a benchmark figure) and say what happened (README.md)."""

from __future__ import annotations


def diagnose(log: str, metrics: str | None = None, benchmark: dict | None = None) -> dict:
    """Return {"finding", "fix", "pin", "profile", "lora", "below_benchmark", "one_at_a_time"} (README.md)."""
    raise NotImplementedError
