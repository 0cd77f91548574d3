"""Exercise 8: is this deployment slower than NVIDIA's published table says it should be, like for like?"""

from __future__ import annotations

VERDICTS = ("underperforms", "on_par", "refuse")
SETUP_KEYS = ("model", "gpu", "gpus", "precision")
LENGTH_TOLERANCE = 0.20  # a table counts only when ISL and OSL are each within 20% of the run's
UNDERPERFORMS_BELOW = 0.90  # measured / expected under this is a real shortfall, not run-to-run noise


def compare(published: list[dict], run: dict) -> dict:
    """Return {"verdict", "expected_tokens_per_s", "shortfall", "reasons"} for `run` (see README.md)."""
    raise NotImplementedError("write compare()")
