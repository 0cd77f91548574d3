"""Checks for exercise 4 (live). The grader verified each target's ground truth (profile id through
client.running_profile, num_request_max through /v1/metrics) and measured the baseline before grading."""

from __future__ import annotations

import math
from typing import Any

from nimlab.grader.checks import Check, ShapeError, field

VERDICTS = {"healthy", "fallback", "misconfigured", "slow", "not_ready"}
WHY = {
    "healthy": "it runs the profile expected for this hardware, batches, and holds the baseline",
    "fallback": "it runs another profile than the one expected for this hardware (it still batches, so "
                "num_request_max alone does not show it): compare selectedModelProfileId with the expected id",
    "misconfigured": "it runs the expected profile but num_request_max is 1 (its batch size was forced to one)",
    "slow": "it runs the expected profile and batches, but the probe falls under 60% of the baseline",
    "not_ready": "nothing answers at this URL",
}


def verdict(value: Any, expect: dict, test: Any) -> Check:
    got = field(value, "verdict")
    if got not in VERDICTS:
        raise ShapeError(f"verdict must be one of {sorted(VERDICTS)}, got {got!r}")
    want = expect["verdict"]
    if got == want:
        return 1.0, f"verdict {got!r} is right"
    return 0.0, f"verdict {got!r}; this NIM is {want!r}: {WHY[want]}"


def fields(value: Any, expect: dict, test: Any) -> Check:
    """ready / profile_id / expected / batching as the published surface shows them (partial credit)."""
    keys = [k for k in ("ready", "profile_id", "expected", "batching") if k in expect]
    wrong = [f"{k} {field(value, k)!r} (it is {expect[k]!r})" for k in keys if field(value, k) != expect[k]]
    if not wrong:
        return 1.0, f"{', '.join(keys)} right"
    return (len(keys) - len(wrong)) / len(keys), "wrong: " + "; ".join(wrong)


def throughput(value: Any, expect: dict, test: Any) -> Check:
    """tok_s is a number of the size the grader's own probe measured (a factor of five either way)."""
    got = field(value, "tok_s")
    base = float(expect["baseline_tok_s"])
    if not isinstance(got, int | float) or isinstance(got, bool) or not math.isfinite(got) or got <= 0:
        return 0.0, f"tok_s {got!r}: run the probe (README) and report output tokens per second"
    if base / 5 <= got <= base * 5:
        return 1.0, f"tok_s {got:g} is in line with the grader's probe ({base:g})"
    return 0.0, f"tok_s {got:g} is far from the grader's probe ({base:g}): count output tokens over wall seconds"


def reason(value: Any, expect: dict, test: Any) -> Check:
    got = field(value, "reason")
    if not isinstance(got, str) or not got.strip():
        return 0.0, "reason is empty: say in one sentence what is wrong and what to do"
    if len(got) > 400 or got.strip().count("\n"):
        return 0.0, "reason should be one sentence an on-call human can act on (one line, under 400 characters)"
    return 1.0, "reason given"


def unreachable(value: Any, expect: dict, test: Any) -> Check:
    if field(value, "ready") is False and field(value, "verdict") == "not_ready":
        return 1.0, "an unreachable NIM is reported as not ready, without raising"
    return 0.0, "nothing listens at this URL: report ready False and verdict 'not_ready' (and do not raise)"
