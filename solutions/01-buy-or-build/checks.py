"""Checks for exercise 1 (run by the grader, outside the sandbox)."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, ShapeError, field


def verdict(value: Any, expect: dict, test: Any) -> Check:
    got = field(value, "verdict")
    if got == expect["verdict"]:
        return 1.0, f"verdict {got!r} is right"
    return 0.0, f"verdict {got!r}; the rule gives {expect['verdict']!r}"


def reasons(value: Any, expect: dict, test: Any) -> Check:
    got = field(value, "reasons")
    if not isinstance(got, list | tuple) or not all(isinstance(r, str) for r in got):
        raise ShapeError("'reasons' must be a list of reason codes (strings)")
    want, have = set(expect["reasons"]), set(got)
    right, wrong = len(want & have), len(have - want)
    fraction = max(0.0, (right - wrong) / len(want))
    if fraction == 1.0:
        return 1.0, "reasons are right"
    missing = sorted(want - have)
    return fraction, (f"{right} of {len(want)} reasons right"
                      + (f", missing {missing}" if missing else "")
                      + (f", {sorted(have - want)} do not apply" if wrong else ""))
