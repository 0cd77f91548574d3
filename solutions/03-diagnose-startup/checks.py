"""Checks for exercise 3: one key of the diagnosis per test."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, field


def _key(key: str) -> Any:
    def check(value: Any, expect: dict, test: Any) -> Check:
        got, want = field(value, key), expect[key]
        if got == want:
            return 1.0, f"{key} is right"
        return 0.0, f"{key}: got {got!r}, expected {want!r}"
    return check


finding = _key("finding")
fix = _key("fix")
profile = _key("profile")
lora = _key("lora")
below_benchmark = _key("below_benchmark")
one_at_a_time = _key("one_at_a_time")
pin = _key("pin")
