"""Exercise 4: a health check that catches a NIM serving from a generic (fallback) profile (see README.md)."""

from __future__ import annotations


def check_nim(base_url: str) -> dict:
    """Return {"ready": bool, "optimized": bool, "profile": str | None, "reason": str} for the NIM at base_url."""
    raise NotImplementedError
