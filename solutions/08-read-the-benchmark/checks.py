"""Checks for exercise 8 (run by the grader, outside the sandbox). Feedback reaches learners on visible tests only."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, ShapeError, close, codes, field, score_codes, verdict

__all__ = ["verdict", "reasons", "expected", "shortfall"]


def reasons(value: Any, expect: dict, test: Any) -> Check:
    return score_codes(codes(value, "reasons"), set(expect["reasons"]))


def _number_or_none(value: Any, key: str) -> float | None:
    got = field(value, key)
    if got is not None and (not isinstance(got, int | float) or isinstance(got, bool)):
        raise ShapeError(f"{key!r} must be a number, or None when you refuse to compare")
    return got


def expected(value: Any, expect: dict, test: Any) -> Check:
    got, want = _number_or_none(value, "expected_tokens_per_s"), expect["expected_tokens_per_s"]
    if want is None:
        if got is None:
            return 1.0, "right: no published figure applies to this run"
        return 0.0, (f"you expected {got:,.1f} tokens/s, but no row is comparable: refuse and give None "
                     "(same model, GPU, GPU count and precision; ISL and OSL within 20%; concurrency inside the table)")
    if got is None:
        return 0.0, "you gave None, but a comparable row exists for this run"
    if close(got, want, rel=0.01, abs_tol=0.01):
        return 1.0, "expected tokens/s is right"
    return 0.0, (f"expected {got:,.2f} tokens/s; the matched table gives {want:,.2f} (the row at the run's "
                 "concurrency, or a straight line between the rows either side of it)")


def shortfall(value: Any, expect: dict, test: Any) -> Check:
    got, want = _number_or_none(value, "shortfall"), expect["shortfall"]
    if want is None:
        return (1.0, "right: nothing to measure against") if got is None else (
            0.0, "a refused comparison has no shortfall: give None")
    if got is None:
        return 0.0, "you gave None, but this run can be compared: give 1 - measured / expected (0 if it meets it)"
    if close(got, want, rel=0.0, abs_tol=0.005):
        return 1.0, "shortfall is right"
    if want > 0 and close(got, want * 100, rel=0.0, abs_tol=0.5):
        return 0.0, f"shortfall {got} looks like a percentage; give a fraction (0.17, not 17)"
    return 0.0, f"shortfall {got:.3f}; this run falls short by {want:.3f} (1 - measured / expected, never below 0)"
