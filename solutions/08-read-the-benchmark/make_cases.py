"""Writes exercises/08-read-the-benchmark/public_cases.yaml and hidden_cases.yaml from the scenarios below.

    .venv/bin/python solutions/08-read-the-benchmark/make_cases.py

Expected values come from the reference answer; each scenario's comment says what it tests and the hand
arithmetic it was checked against. NVIDIA's rows are copied from its NIM benchmarking page (see the README);
rows marked `source: illustrative` are made up for the exercise and say so.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
EXERCISE = HERE.parents[1] / "exercises" / "08-read-the-benchmark"
_spec = importlib.util.spec_from_file_location("ex08_reference", HERE / "answer.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

NVIDIA = "https://docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance.md (NIM 1.8.0, checked 2026-12-01)"
SETUP_70B = {"model": "meta/llama-3.3-70b-instruct", "gpu": "H100-80GB", "gpus": 2, "precision": "fp8"}


def rows(setup: dict, isl: int, osl: int, points: list[tuple], source: str) -> list[dict]:
    out = []
    for conc, tps, ttft, itl in points:
        row = {**setup, "isl": isl, "osl": osl, "concurrency": conc, "output_tokens_per_s": tps}
        if ttft is not None:
            row.update(ttft_ms=ttft, itl_ms=itl)
        out.append({**row, "source": source})
    return out


# NVIDIA's published table: Llama-3.3-70B-Instruct, NIM 1.8.0, 2 x H100 80GB, FP8, TP2, 5,000 in / 500 out.
PUBLISHED_70B = rows(SETUP_70B, 5000, 500, [
    (1, 51.67, 406.77, 18.58), (5, 218.48, 546.7, 21.83), (25, 623.4, 688.69, 38.75), (50, 814.37, 834.51, 59.73),
    (100, 917.26, 7996.25, 92.91), (150, 920.9, 34794.0, 92.86), (250, 920.12, 88605.0, 93.2)], NVIDIA)
ILLUSTRATIVE_CHAT = rows(SETUP_70B, 500, 2000, [
    (1, 55.0, None, None), (25, 1150.0, None, None), (100, 2900.0, None, None)], "illustrative")
ILLUSTRATIVE_4K = rows(SETUP_70B, 4000, 500, [
    (1, 58.0, None, None), (10, 400.0, None, None), (25, 700.0, None, None), (50, 880.0, None, None)],
    "illustrative")
SETUP_8B = {"model": "meta/llama-3.1-8b-instruct", "gpu": "L40S", "gpus": 1, "precision": "fp8"}
ILLUSTRATIVE_8B = rows(SETUP_8B, 1000, 1000, [
    (1, 45.0, None, None), (8, 320.0, None, None), (32, 1000.0, None, None), (64, 1500.0, None, None)],
    "illustrative")

PUBLIC_TABLE = PUBLISHED_70B + ILLUSTRATIVE_CHAT
HIDDEN_TABLE = PUBLISHED_70B + ILLUSTRATIVE_4K + ILLUSTRATIVE_8B


def run(setup: dict = SETUP_70B, **kw) -> dict:
    return {**setup, **kw}


PUBLIC = [
    # same lengths, a concurrency NVIDIA measured: 790 / 814.37 = 0.970, within 10%
    ("the exact row, a little under", PUBLIC_TABLE,
     run(isl=5000, osl=500, concurrency=50, output_tokens_per_s=790.0)),
    # 4,600 / 520 is within 20% of 5,000 / 500; 64 sits between 50 and 100:
    # 814.37 + 14/50 * (917.26 - 814.37) = 843.18; 700 / 843.18 = 0.830 -> 17% short
    ("shorter prompts at 64 clients", PUBLIC_TABLE,
     run(isl=4600, osl=520, concurrency=64, output_tokens_per_s=700.0)),
    # 1,000 / 1,000 is within 20% of neither table (5,000 / 500 or 500 / 2,000)
    ("a chat load the table never measured", PUBLIC_TABLE,
     run(isl=1000, osl=1000, concurrency=50, output_tokens_per_s=600.0)),
    # the table is FP8; a BF16 run is another setup
    ("the same GPUs in BF16", PUBLIC_TABLE,
     run({**SETUP_70B, "precision": "bf16"}, isl=5000, osl=500, concurrency=50, output_tokens_per_s=520.0)),
]

HIDDEN = [
    # past the last published concurrency (250): refuse, do not extrapolate
    ("beyond the last row", HIDDEN_TABLE, run(isl=5000, osl=500, concurrency=300, output_tokens_per_s=900.0)),
    # four GPUs: no published row, and doubling the 2-GPU figure is a guess
    ("four GPUs against a two-GPU table", HIDDEN_TABLE,
     run({**SETUP_70B, "gpus": 4}, isl=5000, osl=500, concurrency=100, output_tokens_per_s=1500.0)),
    # 4,300 / 500: both 5,000 / 500 (0.163 away) and 4,000 / 500 (0.070 away) are comparable; the nearer wins:
    # 700 at 25 clients; 560 / 700 = 0.8 -> 20% short
    ("two comparable tables, the nearer one wins", HIDDEN_TABLE,
     run(isl=4300, osl=500, concurrency=25, output_tokens_per_s=560.0)),
    # exact row at 5: 150 / 218.48 = 0.687 -> 31% short
    ("five clients, a third short", HIDDEN_TABLE, run(isl=5000, osl=500, concurrency=5, output_tokens_per_s=150.0)),
    # 10 between 5 and 25 in the 5,000 / 500 table: 218.48 + 5/20 * 404.92 = 319.71; 300 / 319.71 = 0.938
    ("ten clients between two rows", HIDDEN_TABLE,
     run(isl=5000, osl=500, concurrency=10, output_tokens_per_s=300.0)),
    # beats the table: shortfall 0, not negative
    ("faster than the table", HIDDEN_TABLE, run(isl=5000, osl=500, concurrency=100, output_tokens_per_s=950.0)),
    # ISL 6,250: 5,000 is exactly 20% of 6,250 away, still comparable; 700 / 917.26 = 0.763
    ("prompts a fifth longer", HIDDEN_TABLE, run(isl=6250, osl=500, concurrency=100, output_tokens_per_s=700.0)),
    # OSL 200 against 500: not comparable although ISL matches
    ("short answers", HIDDEN_TABLE, run(isl=5000, osl=200, concurrency=50, output_tokens_per_s=400.0)),
    # the 8B on one L40S, 40 clients between 32 and 64: 1000 + 8/32 * 500 = 1125; 1000 / 1125 = 0.889
    ("an 8B on one L40S at 40 clients", HIDDEN_TABLE,
     run(SETUP_8B, isl=1100, osl=950, concurrency=40, output_tokens_per_s=1000.0)),
    # same model, another GPU
    ("the 70B on H200s", HIDDEN_TABLE,
     run({**SETUP_70B, "gpu": "H200-141GB"}, isl=5000, osl=500, concurrency=50, output_tokens_per_s=1100.0)),
]


def cases(scenarios: list) -> list[dict]:
    out = []
    for name, table, measured in scenarios:
        want = ref.compare(table, measured)
        want = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in want.items()}
        for check in ("verdict", "reasons", "expected", "shortfall"):
            out.append({"name": f"{name}: {check}", "points": 1, "check": check,
                        "call": {"function": "compare", "args": [table, measured]}, "expect": want})
    return out


def write(path: Path, header: str, scenarios: list) -> None:
    path.write_text(header + yaml.safe_dump(cases(scenarios), sort_keys=False, width=120))


if __name__ == "__main__":
    write(EXERCISE / "public_cases.yaml",
          "# Public scenarios: four tests each (verdict, reasons, expected, shortfall) sharing one call.\n"
          "# Rows with source: illustrative are made up for the exercise; the others are NVIDIA's published ones.\n",
          PUBLIC)
    write(HERE / "hidden_cases.yaml", "# Hidden scenarios (never shipped to learners). Generated by make_cases.py.\n",
          HIDDEN)
    print("wrote", EXERCISE / "public_cases.yaml", "and", HERE / "hidden_cases.yaml")
