"""Exercise 1: classify a deployment scenario into the chapter's buy-or-build verdict, with reasons."""

from __future__ import annotations

VERDICTS = ("take_nim", "nim_with_lora", "build", "build_portable", "build_or_negotiate")


def classify(scenario: dict) -> dict:
    """Return {"verdict": one of VERDICTS, "reasons": [reason codes]} for `scenario` (see README.md)."""
    raise NotImplementedError("write classify()")
