"""Per-run statistics with aiperf's metric definitions (TTFT, ITL, output token and request throughput)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nimlab.bench.load import LoadResult


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (numpy's default), p in [0, 100]."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@dataclass(frozen=True)
class Dist:
    avg: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Dist:
        avg = sum(values) / len(values) if values else math.nan
        return cls(avg, percentile(values, 50), percentile(values, 90), percentile(values, 99))


@dataclass(frozen=True)
class RunStats:
    endpoint: str
    concurrency: int
    requests: int
    errors: int
    ttft_ms: Dist
    itl_ms: Dist
    latency_ms: Dist
    output_tokens_per_s: float  # all output tokens / benchmark duration
    requests_per_s: float  # completed requests / benchmark duration
    output_tokens_per_s_per_user: Dist  # per request: (OSL - 1) / (latency - TTFT), aiperf's per-user figure

    def row(self) -> dict[str, float | int | str]:
        return {
            "endpoint": self.endpoint, "concurrency": self.concurrency, "requests": self.requests,
            "errors": self.errors, "output_tok_s": round(self.output_tokens_per_s, 2),
            "req_s": round(self.requests_per_s, 3),
            **{f"ttft_ms_{k}": round(getattr(self.ttft_ms, k), 1) for k in ("avg", "p50", "p90", "p99")},
            **{f"itl_ms_{k}": round(getattr(self.itl_ms, k), 2) for k in ("avg", "p50", "p90", "p99")},
            **{f"latency_ms_{k}": round(getattr(self.latency_ms, k), 1) for k in ("avg", "p50", "p90", "p99")},
        }


def summarize(endpoint: str, result: LoadResult) -> RunStats:
    recs = result.records
    itl = [(r.latency_s - r.ttft_s) / (r.output_tokens - 1) * 1000 for r in recs if r.output_tokens > 1]
    per_user = [(r.output_tokens - 1) / (r.latency_s - r.ttft_s) for r in recs
                if r.output_tokens > 1 and r.latency_s > r.ttft_s]
    return RunStats(
        endpoint=endpoint,
        concurrency=result.concurrency,
        requests=len(recs),
        errors=len(result.errors),
        ttft_ms=Dist.of([r.ttft_s * 1000 for r in recs]),
        itl_ms=Dist.of(itl),
        latency_ms=Dist.of([r.latency_s * 1000 for r in recs]),
        output_tokens_per_s=result.tokens_per_s,
        requests_per_s=len(recs) / result.wall_s if result.wall_s else 0.0,
        output_tokens_per_s_per_user=Dist.of(per_user),
    )
