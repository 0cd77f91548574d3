"""A closed-loop load generator over the OpenAI streaming API: N clients, each sending its next request
as soon as the last finished, bounded in request count and wall time. It measures; it does not report."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openai import OpenAI

PROMPTS = [
    "Explain what a GPU does in two sentences.",
    "Write a short poem about the sea.",
    "Give three tips for learning a new language.",
    "Describe a sunrise to someone who has never seen one.",
    "What are the benefits of regular exercise?",
    "Summarize the plot of a heist movie you invent.",
    "Why do leaves change color in autumn?",
    "List some uses for a paperclip.",
]


@dataclass(frozen=True)
class RequestRecord:
    prompt_index: int
    text: str
    output_tokens: int
    ttft_s: float
    latency_s: float


@dataclass
class LoadResult:
    concurrency: int
    wall_s: float
    records: list[RequestRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.records)

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.wall_s if self.wall_s else 0.0

    @property
    def ttft_p50_ms(self) -> float:
        return 1000 * statistics.median(r.ttft_s for r in self.records) if self.records else float("nan")

    @property
    def itl_ms(self) -> float:
        """Mean inter-token latency: (latency - TTFT) / (tokens - 1), as aiperf defines it."""
        vals = [(r.latency_s - r.ttft_s) / (r.output_tokens - 1) for r in self.records if r.output_tokens > 1]
        return 1000 * statistics.mean(vals) if vals else float("nan")


Send = Callable[[int], RequestRecord]


def openai_stream_sender(base_url: str, model: str, max_tokens: int) -> Send:
    """One streamed chat request with a fixed output length (ignore_eos), timed by the client."""
    client = OpenAI(base_url=base_url, api_key="not-needed-locally", max_retries=0, timeout=600)

    def send(i: int) -> RequestRecord:
        start = time.perf_counter()
        first, parts, tokens = None, [], 0
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], temperature=0,
            max_tokens=max_tokens, stream=True, stream_options={"include_usage": True},
            extra_body={"ignore_eos": True})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if first is None:
                    first = time.perf_counter() - start
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return RequestRecord(i, "".join(parts), tokens, first or 0.0, time.perf_counter() - start)

    return send


def run_closed_loop(send: Send, concurrency: int, requests: int, time_limit_s: float = 600) -> LoadResult:
    """`concurrency` clients share `requests` requests; stops early (and says so) past `time_limit_s`."""
    lock = threading.Lock()
    next_index = iter(range(requests))
    result = LoadResult(concurrency=concurrency, wall_s=0.0)
    deadline = time.monotonic() + time_limit_s

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            try:
                rec = send(i)
            except Exception as exc:  # noqa: BLE001 - a failed request is data, the run goes on
                with lock:
                    result.errors.append(f"request {i}: {exc}")
                continue
            with lock:
                result.records.append(rec)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=time_limit_s + 60)
    result.wall_s = time.perf_counter() - start
    if time.monotonic() >= deadline:
        result.errors.append(f"time limit of {time_limit_s:.0f} s reached")
    result.records.sort(key=lambda r: r.prompt_index)
    return result
