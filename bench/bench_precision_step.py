"""One decode step of the course engine at each precision, in-process, side by side in one run.

What a profile's precision buys before any serving stack is involved: the time of one decode step over a
batch of sequences with a ~100-token context, for fp32, bf16 and int8 (the course NIM's int8 engine:
per-token W8A8 after smoothing), at batch 1 and 8, one torch thread as the profiles run. Precisions are
measured in turn, round after round; the median of the rounds is reported with the ratios to fp32.

    .venv/bin/python bench/bench_precision_step.py [--rounds 5]   # prints a table; artifacts/bench/step.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from tqdm import tqdm
from transformers import DynamicCache

from nimlab.engine.weights import load_model

PRECISIONS = ("fp32", "bf16", "int8")


def step_ms(model, batch: int, context: int = 100, steps: int = 8) -> float:
    """Mean milliseconds of one decode step after a prefill of `context` tokens per sequence."""
    ids = torch.randint(100, 40000, (batch, context))
    with torch.inference_mode():
        cache = model(input_ids=ids, use_cache=True, cache=DynamicCache(), logits_to_keep=1).cache
        nxt = torch.randint(100, 40000, (batch, 1))
        model(input_ids=nxt, cache=cache, use_cache=True)  # warm
        start = time.perf_counter()
        for _ in range(steps):
            model(input_ids=nxt, cache=cache, use_cache=True)
        return (time.perf_counter() - start) / steps * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="artifacts/bench")
    args = ap.parse_args()
    torch.set_num_threads(1)  # engine_threads of every course profile
    cache = Path(os.environ.get("NIM_CACHE_PATH") or Path(tempfile.gettempdir()) / "nimlab-bench-cache")
    models = {p: load_model(p, cache_dir=cache).model for p in PRECISIONS}
    flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0] if Path("/proc/cpuinfo").exists() else ""
    samples: dict[str, list[float]] = {}
    with tqdm(total=args.rounds * len(PRECISIONS) * 2, desc="[step] rounds", unit="run") as bar:
        for _ in range(args.rounds):
            for batch in (1, 8):
                for p, model in models.items():
                    samples.setdefault(f"{p}@{batch}", []).append(step_ms(model, batch))
                    bar.update(1)
    med = {k: round(statistics.median(v), 1) for k, v in samples.items()}
    print(f"\nper decode step, ms, median of {args.rounds} rounds (python bench/bench_precision_step.py "
          f"--rounds {args.rounds}); CPU {platform.machine()}, avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}")
    print("| precision | batch 1 | batch 8 | speed vs fp32 at batch 8 |\n|---|---|---|---|")
    for p in PRECISIONS:
        print(f"| {p} | {med[f'{p}@1']} | {med[f'{p}@8']} | {med['fp32@8'] / med[f'{p}@8']:.2f}x |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "step.json").write_text(json.dumps({"median_ms": med, "samples": samples}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
