"""Exercise 4 reference solution: ask the NIM which profile it runs, not just whether it answers."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

HW_TAGS = ("gpu", "cpu")


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def check_nim(base_url: str) -> dict:
    base = base_url.rstrip("/")
    try:
        status, _ = _get(base + "/v1/health/ready")
    except (OSError, ValueError) as exc:
        return {"ready": False, "optimized": False, "profile": None, "reason": f"unreachable: {exc}"}
    if status != 200:
        return {"ready": False, "optimized": False, "profile": None, "reason": f"not ready ({status})"}
    try:
        meta = json.loads(_get(base + "/v1/metadata")[1])
        profile, tags = meta.get("selectedModelProfileName"), meta.get("profileTags") or {}
    except (OSError, ValueError):
        profile, tags = None, {}
    hardware_specific = any(t in tags for t in HW_TAGS)
    try:
        metrics = _get(base + "/v1/metrics")[1].decode()
        m = re.search(r"^num_request_max(?:\{[^}]*\})? ([0-9.eE+-]+)$", metrics, re.M)
        batches = m is None or float(m.group(1)) > 1
    except (OSError, ValueError):
        batches = True
    optimized = hardware_specific and batches
    reason = (f"profile {profile} is hardware-specific and batches requests" if optimized else
              f"profile {profile} is generic (no gpu/cpu tag) or runs one request at a time: a fallback")
    return {"ready": True, "optimized": optimized, "profile": profile, "reason": reason}
