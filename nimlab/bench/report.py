"""Reporting only: a terminal table, JSON, CSV and a matplotlib plot from RunStats (pure over its input)."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

from nimlab.bench.stats import RunStats


def table(runs: list[RunStats]) -> str:
    head = "| endpoint | conc | req | err | out tok/s | req/s | TTFT p50/p99 ms | ITL p50/p99 ms |"
    lines = [head, "|" + "---|" * 8]
    for r in runs:
        lines.append(f"| {r.endpoint} | {r.concurrency} | {r.requests} | {r.errors} | {r.output_tokens_per_s:.1f} | "
                     f"{r.requests_per_s:.2f} | {r.ttft_ms.p50:.0f} / {r.ttft_ms.p99:.0f} | "
                     f"{r.itl_ms.p50:.1f} / {r.itl_ms.p99:.1f} |")
    return "\n".join(lines)


def ratios(runs: list[RunStats], baseline: str) -> list[str]:
    """Each endpoint's output tok/s over the baseline's, at every concurrency both measured."""
    base = {r.concurrency: r.output_tokens_per_s for r in runs if r.endpoint == baseline}
    out = []
    for r in runs:
        if r.endpoint != baseline and base.get(r.concurrency):
            out.append(f"{r.endpoint} / {baseline} @ concurrency {r.concurrency}: "
                       f"{r.output_tokens_per_s / base[r.concurrency]:.2f}x")
    return out


def write(runs: list[RunStats], out: Path, meta: dict) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "bench.json", out / "bench.csv"]
    paths[0].write_text(json.dumps({"meta": meta, "runs": [asdict(r) for r in runs]}, indent=2))
    rows = [r.row() for r in runs]
    with paths[1].open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["endpoint"])
        w.writeheader()
        w.writerows(rows)
    plot = _plot(runs, out / "bench.png")
    if plot:
        paths.append(plot)
    return paths


def _plot(runs: list[RunStats], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name in dict.fromkeys(r.endpoint for r in runs):
        mine = sorted((r for r in runs if r.endpoint == name), key=lambda r: r.concurrency)
        xs = [r.concurrency for r in mine]
        a.plot(xs, [r.output_tokens_per_s for r in mine], marker="o", label=name)
        b.plot(xs, [r.ttft_ms.p50 for r in mine], marker="o", label=name)
    a.set(xlabel="concurrency", ylabel="output tokens/s (aggregate)", title="Throughput")
    b.set(xlabel="concurrency", ylabel="TTFT p50 (ms)", title="Time to first token")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
