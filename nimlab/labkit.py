"""Small helpers the lab notebooks call, so notebook cells stay short and read like the lesson.

Where each service lives comes from environment variables, so one notebook runs unchanged against the
course stack (the default) or the GPU stack (real NIM, Triton + TensorRT-LLM):

    NIMLAB_STACK          course (default) | gpu
    NIM_URL               OpenAI base URL of the NIM; else NIMLAB_NIM_URL (what a workshop room sets), else
                          the local course NIM at http://127.0.0.1:<NIM_SERVER_PORT, else NIMLAB_PORT_NIM,
                          default 8000>/v1 (the port `nimlab lab up` starts it on)
    TRITON_OPENAI_URL     OpenAI base URL of the hand-built stack; else NIMLAB_TRITON_OPENAI_URL, else
                          http://127.0.0.1:<NIMLAB_PORT_TRITON_OPENAI, default 9000>/v1
    TRITON_HTTP_URL       Triton's KServe HTTP endpoint; else NIMLAB_TRITON_HTTP_URL, else
                          http://127.0.0.1:<NIMLAB_PORT_TRITON_HTTP, default 8001>
    NIM_FALLBACK_URL      gpu stack only: a NIM started where its optimized profile cannot run
    NIM_MISCONFIGURED_URL gpu stack only, optional: a NIM started with NIM_PASSTHROUGH_ARGS="--max-num-seqs 1"
    NIM_EXPECTED_PROFILE_ID  the profile id recorded for this hardware at deploy time (lab 4; default: the
                          healthy NIM's selectedModelProfileId)
    NIM_BASELINE_TOK_S    lab 4: the probe's tokens/s recorded at deploy time (default: measured at the start)
    NIMLAB_ADAPTERS_DIR   where lab 6 writes the LoRA adapters it trains (default ~/.cache/nimlab/loras)
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from nimlab.bench.load import LoadResult, RequestRecord, openai_stream_sender, run_closed_loop
from nimlab.bench.stats import RunStats, summarize
from nimlab.nim.client import root as client_root

# tqdm's notebook mode wants ipywidgets for progress bars; the labs print their own progress lines
warnings.filterwarnings("ignore", message="IProgress not found")


def stack() -> str:
    return os.environ.get("NIMLAB_STACK", "course")


def _endpoint(explicit: str, room: str, port_name: str, suffix: str, server_port: str = "") -> str:
    """One scheme for every lab: an explicit URL, else the room's, else this machine's port map, which
    `nimlab lab up` moves with the same variables (NIM_SERVER_PORT, else NIMLAB_PORT_<NAME>), so a moved
    course needs nothing else."""
    from nimlab.ports import port

    local = (os.environ.get(server_port, "").strip() if server_port else "") or port(port_name)
    url = (os.environ.get(explicit) or os.environ.get(room) or f"http://127.0.0.1:{local}").rstrip("/")
    return url if not suffix or url.endswith(suffix) else url + suffix


def nim_url() -> str:
    return _endpoint("NIM_URL", "NIMLAB_NIM_URL", "nim", "/v1", server_port="NIM_SERVER_PORT")


def triton_url() -> str:
    return _endpoint("TRITON_OPENAI_URL", "NIMLAB_TRITON_OPENAI_URL", "triton-openai", "/v1")


def triton_http_url() -> str:
    return _endpoint("TRITON_HTTP_URL", "NIMLAB_TRITON_HTTP_URL", "triton-http", "")


def adapters_dir() -> Path:
    """The folder lab 6 trains into and serves from as NIM_PEFT_SOURCE (one sub-folder per adapter)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nimlab" / "loras"
    path = Path(os.environ.get("NIMLAB_ADAPTERS_DIR") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def root(base_url: str) -> str:
    """http://host:port/v1 -> http://host:port"""
    return client_root(base_url)


def model_of(base_url: str) -> str:
    return httpx.get(base_url + "/models", timeout=10).json()["data"][0]["id"]


def metadata(base_url: str) -> dict:
    return httpx.get(root(base_url) + "/v1/metadata", timeout=10).json()


def metrics(base_url: str) -> dict[str, float]:
    """Prometheus samples by name (labels folded into the name), parsed with prometheus_client."""
    text = httpx.get(root(base_url) + "/v1/metrics", timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            label = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[s.name + (f"{{{label}}}" if label else "")] = s.value
    return out


@dataclass(frozen=True)
class Measured:
    stats: RunStats
    result: LoadResult


def measure(base_url: str, name: str, concurrency: int = 4, requests: int = 8, max_tokens: int = 32,
            time_limit_s: float = 300, model: str | list[str] | None = None) -> Measured:
    """A short closed-loop load (bounded in count and time), streamed through the official openai SDK.

    `model` picks what to ask for (a LoRA adapter's name, say); a list takes turns request by request, which
    is mixed traffic; by default the first model the server lists.
    """
    names = [model] if isinstance(model, str) else list(model or [model_of(base_url)])
    senders = [openai_stream_sender(base_url, m, max_tokens) for m in names]

    def send(i: int) -> RequestRecord:
        return senders[i % len(senders)](i)

    result = run_closed_loop(send, concurrency, requests, time_limit_s)
    return Measured(summarize(name, result), result)


PROBE_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def probe_tok_s(base_url: str, streams: int = 4, max_tokens: int = 32, deadline_s: float = 5.0) -> float:
    """Exercise 4's throughput probe: `streams` concurrent streaming chat requests, read until done or
    `deadline_s`; output tokens (usage when a stream finished, else content chunks) per wall-clock second.
    Bounded in time, so a health check can run it on every call."""
    model = model_of(base_url)
    counts = [0] * streams
    start = time.monotonic()

    def one(i: int) -> None:
        body = {"model": model, "messages": [{"role": "user", "content": PROBE_PROMPT}], "max_tokens": max_tokens,
                "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
        try:
            with httpx.stream("POST", base_url + "/chat/completions", json=body, timeout=deadline_s + 5) as r:
                for line in r.iter_lines():
                    if line.startswith("data:") and not line.endswith("[DONE]"):
                        event = json.loads(line[5:])
                        if event.get("usage"):
                            counts[i] = int(event["usage"]["completion_tokens"])
                        elif any((c.get("delta") or {}).get("content") for c in event.get("choices") or ()):
                            counts[i] += 1
                    if time.monotonic() - start > deadline_s:
                        break
        except (httpx.HTTPError, ValueError):
            pass

    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start)
