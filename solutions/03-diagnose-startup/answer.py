"""Exercise 3 reference solution: read the start-up log first, then metrics and the benchmark."""

from __future__ import annotations

import re

HW_TAGS = ("gpu", "cpu")
GENERIC_NAME = re.compile(r"(^|[-_])(vllm|sglang|local_build|generic)([-_]|$)")


def _selected(log: str) -> str | None:
    m = re.findall(r"Selected profile: \S+ \(([^)]+)\)", log)
    return m[-1] if m else None


def _metadata(log: str) -> dict[str, str]:
    tags = {}
    for k, v in re.findall(r"Profile metadata: ([A-Za-z_]+): (\S+)", log):
        tags[k] = v
    return tags


def _is_generic(name: str, tags: dict[str, str]) -> bool:
    if tags:
        return not any(t in tags for t in HW_TAGS)
    return bool(GENERIC_NAME.search(name))


def _metric(text: str, name: str) -> float | None:
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def diagnose(log: str, metrics: str | None = None, benchmark: dict | None = None) -> dict:
    profile = _selected(log)
    tags = _metadata(log)
    lora = tags.get("feat_lora") == "true" or bool(profile and profile.endswith("-lora"))
    if profile is None and "NIM_MODEL_PROFILE" in log:
        finding, fix = "profile_error", "fix_profile_name"
    elif profile is None:
        finding, fix = "unknown", "none"
    elif _is_generic(profile, tags):
        if "forced by NIM_MODEL_PROFILE" in log:
            finding, fix = "forced_generic", "unset_forced_profile"
        else:
            finding, fix = "fallback_generic", "move_to_supported_hardware"
    else:
        finding, fix = "optimized", "none"
    below = None
    if benchmark:
        below = benchmark["measured_tokens_per_s"] < 0.8 * benchmark["published_tokens_per_s"]
    one = None
    if metrics:
        mx = _metric(metrics, "num_request_max")
        one = None if mx is None else mx <= 1
    return {"finding": finding, "fix": fix, "profile": profile, "lora": lora, "below_benchmark": below,
            "one_at_a_time": one}
