"""Exercise 4: a health check that is right on real NIMs (see README.md)."""

from __future__ import annotations


def check_nim(base_url: str, expected_profile_id: str | None = None, baseline_tok_s: float | None = None) -> dict:
    """Return {"ready", "profile_id", "expected", "batching", "tok_s", "verdict", "reason"} as README.md defines."""
    raise NotImplementedError
