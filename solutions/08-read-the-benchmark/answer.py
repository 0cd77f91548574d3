"""Exercise 8 reference solution: hold a measured run against NVIDIA's published table, like for like."""

from __future__ import annotations

VERDICTS = ("underperforms", "on_par", "refuse")
SETUP_KEYS = ("model", "gpu", "gpus", "precision")
LENGTH_TOLERANCE = 0.20  # a table counts only when ISL and OSL are each within 20% of the run's
UNDERPERFORMS_BELOW = 0.90  # measured / expected under this is a real shortfall, not run-to-run noise


def _refuse(reason: str) -> dict:
    return {"verdict": "refuse", "expected_tokens_per_s": None, "shortfall": None, "reasons": [reason]}


def compare(published: list[dict], run: dict) -> dict:
    same_setup = [r for r in published if all(r[k] == run[k] for k in SETUP_KEYS)]
    if not same_setup:
        return _refuse("no_row_for_setup")

    tables: dict[tuple[int, int], list[dict]] = {}
    for r in same_setup:  # dicts keep insertion order: the first table listed wins a tie
        tables.setdefault((r["isl"], r["osl"]), []).append(r)
    isl, osl = run["isl"], run["osl"]
    comparable = [key for key in tables
                  if abs(key[0] - isl) <= LENGTH_TOLERANCE * isl and abs(key[1] - osl) <= LENGTH_TOLERANCE * osl]
    if not comparable:
        return _refuse("lengths_not_comparable")
    best = min(comparable, key=lambda key: abs(key[0] - isl) / isl + abs(key[1] - osl) / osl)
    rows = sorted(tables[best], key=lambda r: r["concurrency"])

    c = run["concurrency"]
    reasons = []
    exact = [r for r in rows if r["concurrency"] == c]
    if exact:
        expected = float(exact[0]["output_tokens_per_s"])
        reasons.append("exact_row")
    elif rows[0]["concurrency"] < c < rows[-1]["concurrency"]:
        lo = max((r for r in rows if r["concurrency"] < c), key=lambda r: r["concurrency"])
        hi = min((r for r in rows if r["concurrency"] > c), key=lambda r: r["concurrency"])
        share = (c - lo["concurrency"]) / (hi["concurrency"] - lo["concurrency"])
        expected = lo["output_tokens_per_s"] + share * (hi["output_tokens_per_s"] - lo["output_tokens_per_s"])
        reasons.append("interpolated")
    else:
        return _refuse("concurrency_outside_table")
    if best != (isl, osl):
        reasons.append("lengths_approximate")

    ratio = run["output_tokens_per_s"] / expected
    return {
        "verdict": "underperforms" if ratio < UNDERPERFORMS_BELOW else "on_par",
        "expected_tokens_per_s": expected,
        "shortfall": max(0.0, 1.0 - ratio),
        "reasons": reasons,
    }
