"""A plausible wrong answer to exercise 8: hold every run against the table's best figure for the model (the
headline number a vendor page or slide quotes), whatever the GPUs, lengths or concurrency. It never refuses."""

from __future__ import annotations


def compare(published: list[dict], run: dict) -> dict:
    rows = [r for r in published if r["model"] == run["model"]]
    if not rows:
        return {"verdict": "refuse", "expected_tokens_per_s": None, "shortfall": None, "reasons": ["no_row_for_setup"]}
    expected = max(r["output_tokens_per_s"] for r in rows)
    ratio = run["output_tokens_per_s"] / expected
    return {"verdict": "underperforms" if ratio < 0.9 else "on_par", "expected_tokens_per_s": expected,
            "shortfall": max(0.0, 1 - ratio), "reasons": ["exact_row"]}
