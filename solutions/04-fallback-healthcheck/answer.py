"""Exercise 4 reference solution: judge a NIM by what it runs and how fast, through NVIDIA's published surface.

Order (README.md): ready? -> the profile id it selected is the one recorded for this hardware? -> the engine's
batch size is not forced to one? -> a short throughput probe against the baseline. No profile-name rule: a NIM
2.x runs vLLM for every profile, so a `vllm` prefix says nothing about health.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request

PROBE_STREAMS = 4  # concurrent streaming requests
PROBE_TOKENS = 32  # max_tokens each
PROBE_DEADLINE_S = 5.0  # stop reading then, whatever arrived: the check stays bounded on a loaded host
PROBE_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
SLOW_BELOW = 0.6


def _get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def _num_request_max(metrics: str) -> float | None:
    m = re.search(r"^num_request_max(?:\{[^}]*\})? ([0-9.eE+-]+)$", metrics, re.M)
    return float(m.group(1)) if m else None


def _stream(base: str, model: str, deadline: float, counts: list[int], i: int) -> None:
    """One streaming request; counts[i] = tokens received (usage when it finished, else content chunks)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROBE_PROMPT}],
                       "max_tokens": PROBE_TOKENS, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = urllib.request.Request(base + "/v1/chat/completions", data=body,
                                 headers={"Content-Type": "application/json"})
    chunks = 0
    try:
        with urllib.request.urlopen(req, timeout=PROBE_DEADLINE_S + 2) as r:
            for raw in r:
                line = raw.decode(errors="replace").strip()
                if line.startswith("data:") and not line.endswith("[DONE]"):
                    event = json.loads(line[5:])
                    if event.get("usage"):
                        chunks = int(event["usage"].get("completion_tokens") or chunks)
                    elif any((c.get("delta") or {}).get("content") for c in event.get("choices") or ()):
                        chunks += 1
                if time.monotonic() > deadline:
                    break
    except (OSError, ValueError):
        pass
    counts[i] = chunks


def probe_tok_s(base: str, model: str) -> float:
    """Output tokens/s over PROBE_STREAMS concurrent streams, wall clock from first send to last token read."""
    counts = [0] * PROBE_STREAMS
    start = time.monotonic()
    deadline = start + PROBE_DEADLINE_S
    threads = [threading.Thread(target=_stream, args=(base, model, deadline, counts, i))
               for i in range(PROBE_STREAMS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)


def check_nim(base_url: str, expected_profile_id: str | None = None, baseline_tok_s: float | None = None) -> dict:
    base = base_url.rstrip("/").removesuffix("/v1")
    out: dict = {"ready": False, "profile_id": None, "expected": None, "batching": None, "tok_s": None,
                 "verdict": "not_ready", "reason": ""}
    try:
        status, _ = _get(base + "/v1/health/ready")
    except (OSError, ValueError) as exc:
        out["reason"] = f"Nothing answers at {base} ({exc}): check that the NIM container is running and its port."
        return out
    if status != 200:
        out["reason"] = f"{base}/v1/health/ready answers {status}: the NIM is still loading or failed; read its log."
        return out
    out["ready"] = True
    try:
        meta = json.loads(_get(base + "/v1/metadata")[1])
        # NIM 1.x-era references publish selectedModelProfileId; a 2.x LLM reference names it profile_id
        out["profile_id"] = meta.get("selectedModelProfileId") or meta.get("profile_id")
    except (OSError, ValueError):
        pass
    pid = out["profile_id"]
    if expected_profile_id:
        out["expected"] = pid == expected_profile_id
    try:
        mx = _num_request_max(_get(base + "/v1/metrics")[1].decode(errors="replace"))
    except (OSError, ValueError):
        mx = None
    out["batching"] = None if mx is None else mx > 1
    if out["expected"] is False:
        out["verdict"] = "fallback"
        out["reason"] = (f"The NIM runs profile {pid}, not {expected_profile_id} recorded for this hardware: read "
                         "its start-up log for why, then fix the hardware or resources or pin NIM_MODEL_PROFILE.")
        return out
    if out["batching"] is False:
        out["verdict"] = "misconfigured"
        out["reason"] = ("The engine runs one request at a time (num_request_max 1): remove the batch-size "
                         "override (for example --max-num-seqs 1 in NIM_PASSTHROUGH_ARGS) and restart.")
        return out
    try:
        model = json.loads(_get(base + "/v1/models")[1])["data"][0]["id"]
        out["tok_s"] = round(probe_tok_s(base, model), 1)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        out["tok_s"] = 0.0
    if baseline_tok_s and out["tok_s"] < SLOW_BELOW * baseline_tok_s:
        out["verdict"] = "slow"
        out["reason"] = (f"The expected profile runs but delivers {out['tok_s']:.0f} tok/s, "
                         f"{out['tok_s'] / baseline_tok_s:.0%} of the {baseline_tok_s:.0f} tok/s baseline: look for "
                         "CPU/GPU contention or a changed load, and compare its metrics with the baseline run.")
        return out
    out["verdict"] = "healthy"
    out["reason"] = (f"Profile {pid} as expected, batching, {out['tok_s']:.0f} tok/s"
                     + (f" against a {baseline_tok_s:.0f} tok/s baseline" if baseline_tok_s else "")
                     + ": nothing to do.")
    return out
