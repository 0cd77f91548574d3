"""Prometheus metrics under NIM's names (NIM 1.x observability page), in a registry of our own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from nimlab.engine import EngineStats

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_TOKEN_BUCKETS = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


class NimMetrics:
    """Request counters and histograms are updated as requests finish; gauges are read at scrape time."""

    def __init__(self, model_name: str, profile_id: str, profile_name: str, engine_name: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.running = Gauge("num_requests_running", "Requests currently in the engine's batch", registry=r)
        self.waiting = Gauge("num_requests_waiting", "Requests queued, waiting for a batch slot", registry=r)
        self.max_requests = Gauge("num_request_max", "Most requests the engine runs at once", registry=r)
        self.kv_usage = Gauge("kv_cache_usage_perc", "Fraction of the KV-cache pool in use (0-1)", registry=r)
        self.prompt_tokens = Counter("prompt_tokens", "Prompt tokens processed", registry=r)
        self.generation_tokens = Counter("generation_tokens", "Tokens generated", registry=r)
        self.finished = Counter("request_finish", "Finished requests by finish reason",
                                ["finished_reason"], registry=r)
        self.ttft = Histogram("time_to_first_token_seconds", "Time to first token", buckets=_LATENCY_BUCKETS,
                              registry=r)
        self.tpot = Histogram("time_per_output_token_seconds", "Time per output token after the first",
                              buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5), registry=r)
        self.e2e = Histogram("e2e_request_latency_seconds", "End-to-end request latency",
                             buckets=_LATENCY_BUCKETS, registry=r)
        self.req_prompt = Histogram("request_prompt_tokens", "Prompt length per request", buckets=_TOKEN_BUCKETS,
                                    registry=r)
        self.req_generation = Histogram("request_generation_tokens", "Completion length per request",
                                        buckets=_TOKEN_BUCKETS, registry=r)
        info = Gauge("nimlab_selected_profile_info", "The profile this course NIM selected at start-up (always 1)",
                     ["model", "profile_id", "profile_name", "llm_engine"], registry=r)
        info.labels(model_name, profile_id, profile_name, engine_name).set(1)

    def observe_request(self, prompt_tokens: int, completion_tokens: int, ttft: float | None, e2e: float,
                        finish_reason: str) -> None:
        self.prompt_tokens.inc(prompt_tokens)
        self.generation_tokens.inc(completion_tokens)
        self.finished.labels(finish_reason).inc()
        self.e2e.observe(e2e)
        self.req_prompt.observe(prompt_tokens)
        self.req_generation.observe(completion_tokens)
        if ttft is not None:
            self.ttft.observe(ttft)
            if completion_tokens > 1:
                self.tpot.observe((e2e - ttft) / (completion_tokens - 1))

    def render(self, stats: EngineStats | None) -> bytes:
        if stats is not None:
            self.running.set(stats.running)
            self.waiting.set(stats.waiting)
            self.max_requests.set(stats.max_num_seqs)
            self.kv_usage.set(stats.kv_usage)
        return generate_latest(self.registry)
