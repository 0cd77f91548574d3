"""Checks for exercise 2 (within 1%)."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, ShapeError, close


def number(value: Any, expect: float, test: Any) -> Check:
    if close(value, expect):
        return 1.0, "right"
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ShapeError(f"expected a number, got {type(value).__name__}")
    return 0.0, f"got {value:,.2f}, expected {expect:,.2f}"


def choice(value: Any, expect: str, test: Any) -> Check:
    return (1.0, "right") if value == expect else (0.0, f"got {value!r}, expected {expect!r}")


def table(value: Any, expect: list[dict], test: Any) -> Check:
    if not isinstance(value, list):
        raise ShapeError(f"expected a list of per-year dicts, got {type(value).__name__}")
    if len(value) != len(expect):
        return 0.0, f"expected {len(expect)} years, got {len(value)}"
    good = 0
    for got, want in zip(value, expect, strict=True):
        if isinstance(got, dict) and got.get("year") == want["year"] and all(
                close(got.get(k), want[k]) for k in ("build", "nim")):
            good += 1
    return good / len(expect), f"{good} of {len(expect)} years right"
