"""The native engine's decode step, fused (fused.py) against the model's own forward, in one process.

Both engines hold the same loaded model (int8 by default, as the optimized profile) and serve 8 streams in a
closed loop (staggered, so newcomers join a running batch), 64 greedy tokens a request (eos ignored), one torch
thread. They run in turn, round after round; the median
of the rounds is reported: engine engine CPU milliseconds per step, tokens per second, and whether the two
paths gave the same tokens (they may differ in the last bits: different kernels sum in different orders).

    .venv/bin/python bench/bench_decode_path.py [--rounds 5] [--precision int8]   # artifacts/bench/decode_path.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch
from tqdm import tqdm

from nimlab.bench.load import PROMPTS
from nimlab.engine import Engine, SamplingParams, load_model
from nimlab.engine.chat import encode_question

PATHS = {"model forward": False, "fused": True}


def run(engine: Engine, prompts: list[list[int]], tokens: int,
        requests: int = 3) -> tuple[float, float, list[tuple[int, ...]]]:
    """(CPU ms per engine step, tokens per second, first replies): a closed loop of len(prompts) streams, each
    sending `requests` requests one after another; stream i's first one is 8*(i+1) tokens long, so the streams
    finish at different steps and newcomers keep joining a running batch (as a server's clients do)."""
    steps0, wall0, cpu_before = engine.steps, time.perf_counter(), _engine_cpu(engine)
    replies: list[tuple[int, ...]] = [() for _ in prompts]
    counts = [0] * len(prompts)

    def stream(i: int) -> None:
        for r in range(requests + 1):
            n = 8 * (i + 1) if r == 0 else tokens
            out = engine.generate_many([prompts[i]], SamplingParams(max_tokens=n, temperature=0, ignore_eos=True))
            counts[i] += len(out[0].token_ids)
            if r == 1:
                replies[i] = out[0].token_ids
    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    cpu = _engine_cpu(engine) - cpu_before
    return cpu / (engine.steps - steps0) * 1000, sum(counts) / wall, replies


def _engine_cpu(engine: Engine) -> float:
    """CPU seconds the engine thread has used (Linux: its /proc task stat)."""
    tid = engine._thread.native_id if engine._thread is not None else None
    stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--precision", default="int8", choices=("int8", "fp32"))
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--out", default="artifacts/bench")
    args = ap.parse_args()
    torch.set_num_threads(1)  # engine_threads of every course profile
    cache = Path(os.environ.get("NIM_CACHE_PATH") or Path(tempfile.gettempdir()) / "nimlab-bench-cache")
    loaded = load_model(args.precision, cache_dir=cache)
    prompts = [encode_question(loaded.tokenizer, p) for p in PROMPTS[:8]]
    engines = {name: Engine(loaded, max_num_seqs=8, kv_capacity_tokens=16384, preallocated_kv=True,
                            fused_decode=fused) for name, fused in PATHS.items()}
    for e in engines.values():
        e.start()
        run(e, prompts, 4, requests=1)  # warm
    ms: dict[str, list[float]] = {n: [] for n in engines}
    tps: dict[str, list[float]] = {n: [] for n in engines}
    replies: dict[str, list[tuple[int, ...]]] = {}
    try:
        with tqdm(total=args.rounds * len(engines), desc="[decode path] rounds", unit="run") as bar:
            for _ in range(args.rounds):
                for name, e in engines.items():
                    step, rate, replies[name] = run(e, prompts, args.tokens)
                    ms[name].append(step)
                    tps[name].append(rate)
                    bar.update(1)
    finally:
        for e in engines.values():
            e.stop()
    med = {n: (statistics.median(ms[n]), statistics.median(tps[n])) for n in engines}
    base = med["model forward"]
    same = sum(a == b for a, b in zip(replies["model forward"], replies["fused"], strict=True))
    print(f"\n{args.precision}, batch 8, {args.tokens} tokens, median of {args.rounds} rounds "
          f"(python bench/bench_decode_path.py --rounds {args.rounds} --precision {args.precision})")
    print("| decode path | CPU ms per step | tokens/s | speed vs model forward |\n|---|---|---|---|")
    for n, (step, rate) in med.items():
        print(f"| {n} | {step:.1f} | {rate:.1f} | {rate / base[1]:.2f}x |")
    print(f"identical replies between the paths: {same} of {len(prompts)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "decode_path.json").write_text(json.dumps(
        {"precision": args.precision, "median": med, "ms": ms, "tokens_per_s": tps, "identical": same}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
