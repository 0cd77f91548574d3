"""Exercise 3 reference solution: read the start-up log first, then metrics and the benchmark."""

from __future__ import annotations

import re

HW_TAGS = ("gpu", "cpu")


def _selected(log: str) -> str | None:
    m = re.findall(r"Selected profile: \S+ \(([^)]+)\)", log)
    return m[-1] if m else None


def _metadata(log: str) -> dict[str, str]:
    return dict(re.findall(r"Profile metadata: ([A-Za-z_]+): (\S+)", log))


def _valid(log: str) -> list[tuple[str, str]]:
    """(id, name) of every profile the log lists as valid for this hardware, in log order."""
    return re.findall(r"Valid profile: (\S+) \(([^)]+)\)", log)


def _metric(text: str, name: str) -> float | None:
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def diagnose(log: str, metrics: str | None = None, benchmark: dict | None = None) -> dict:
    profile = _selected(log)
    tags = _metadata(log)
    lora = tags.get("feat_lora") == "true" or bool(profile and profile.endswith("-lora"))
    one = None
    if metrics:
        mx = _metric(metrics, "num_request_max")
        one = None if mx is None else mx <= 1
    pin = None
    if profile is None and "NIM_MODEL_PROFILE" in log:
        finding, fix = "profile_error", "fix_profile_name"
    elif profile is None:
        finding, fix = "unknown", "none"
    elif not any(t in tags for t in HW_TAGS):  # generic: no hardware tag in its metadata (never the name)
        if "forced by NIM_MODEL_PROFILE" in log:
            finding, fix = "forced_generic", "unset_forced_profile"
        else:
            finding, fix = "fallback_generic", "move_to_supported_hardware"
            # NVIDIA's documented "wrong auto-choice": a tensorrt_llm profile was valid for this hardware,
            # yet a generic one was selected. Pin the optimized one; the hardware is fine.
            trt = [pid for pid, name in _valid(log) if name.startswith("tensorrt_llm")]
            if trt:
                fix, pin = "pin_profile", trt[0]
    elif one:
        finding, fix = "optimized", "remove_batch_override"
    else:
        finding, fix = "optimized", "none"
    below = None
    if benchmark:
        below = benchmark["measured_tokens_per_s"] < 0.8 * benchmark["published_tokens_per_s"]
    return {"finding": finding, "fix": fix, "pin": pin, "profile": profile, "lora": lora, "below_benchmark": below,
            "one_at_a_time": one}
