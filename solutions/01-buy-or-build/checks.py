"""Checks for exercise 1 (run by the grader, outside the sandbox)."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, codes, score_codes, verdict

__all__ = ["verdict", "reasons"]


def reasons(value: Any, expect: dict, test: Any) -> Check:
    return score_codes(codes(value, "reasons"), set(expect["reasons"]))
