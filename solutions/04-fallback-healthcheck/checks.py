"""Checks for exercise 4 (live): each target's ground truth was verified through /v1/metadata by the grader."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, field


def _same(key: str, what: str) -> Any:
    def check(value: Any, expect: dict, test: Any) -> Check:
        got = field(value, key)
        if got == expect[key]:
            return 1.0, f"{what}: right"
        return 0.0, f"{what}: your check said {got!r}, the service {'is' if expect[key] else 'is not'} {what}"
    return check


ready = _same("ready", "ready")
optimized = _same("optimized", "on its optimized path")


def profile(value: Any, expect: dict, test: Any) -> Check:
    got = field(value, "profile")
    if got == expect["profile"]:
        return 1.0, "profile: right"
    return 0.0, f"profile: got {got!r}; read selectedModelProfileName from /v1/metadata"


def unreachable(value: Any, expect: dict, test: Any) -> Check:
    if field(value, "ready") is False and field(value, "optimized") is False:
        return 1.0, "an unreachable NIM is reported as not ready and not optimized, without raising"
    return 0.0, "nothing listens at this URL: report ready False and optimized False (and do not raise)"
