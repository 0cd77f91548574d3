"""The middle cases, priced side by side in one run: LoRA adapter vs base requests, int8 vs fp32.

Three course NIMs run at once: one forced onto the fp32 hardware-specific profile, a LoRA-enabled one serving
the course adapter (trained here, or reused if already trained with the same settings; LoRA profiles are fp32),
and the auto-selected int8 one. Every setup gets the same closed-loop load through the official openai SDK (streaming, fixed
output length), in turn, round after round; the median of the rounds is reported, so a busy neighbour
slows every setup alike. Accuracy of int8 is a separate question: `nimlab precision validate`.

    .venv/bin/python bench/bench_middle_cases.py [--rounds 3]   # table + ratios; artifacts/bench/middle.{json,png}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from nimlab.bench.load import openai_stream_sender, run_closed_loop
from nimlab.engine.weights import MODEL_ID
from nimlab.lab.launch import course_nim

FP32 = "nimlab_native-cpu-fp32-tp1-pp1-throughput"  # int8 is what auto-selection picks; fp32 is forced


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=16, help="requests per setup and round")
    ap.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (fixed: ignore_eos)")
    ap.add_argument("--rounds", type=int, default=3, help="measurements per setup; the median is reported")
    ap.add_argument("--out", default="artifacts/bench", help="folder for middle.json and middle.png")
    args = ap.parse_args()
    cache = Path(os.environ.get("NIM_CACHE_PATH") or Path(tempfile.gettempdir()) / "nimlab-bench-cache")
    os.environ["NIM_CACHE_PATH"] = str(cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from nimlab.lora.settings import TrainConfig
    from nimlab.lora.train import train

    loras = out / "loras"
    print("[bench] training the course adapter (reused when already trained with these settings)", flush=True)
    trained = train(TrainConfig(), loras / "acme", cache_dir=cache,
                    progress=lambda s, n, loss, t: s % 10 == 0 and print(f"[bench]   step {s}/{n} loss {loss:.3f}"))
    print(f"[bench] {trained.summary()}", flush=True)

    results: dict = {"concurrency": args.concurrency, "requests": args.requests, "max_tokens": args.max_tokens,
                     "rounds": args.rounds, "samples": {}, "ready_s": {}}
    with ExitStack() as stack:
        urls = {}
        for label, env in (("fp32", {"NIM_MODEL_PROFILE": FP32}), ("lora", {"NIM_PEFT_SOURCE": str(loras)}),
                           ("int8", None)):
            t0 = time.perf_counter()
            urls[label] = stack.enter_context(course_nim(env=env)).url + "/v1"
            results["ready_s"][label] = round(time.perf_counter() - t0, 1)
            print(f"[bench] {label} NIM ready in {results['ready_s'][label]} s", flush=True)
        setups = {
            "fp32 NIM, base": [(urls["fp32"], MODEL_ID)],
            "LoRA NIM, base": [(urls["lora"], MODEL_ID)],
            "LoRA NIM, adapter": [(urls["lora"], "acme")],
            "LoRA NIM, mixed": [(urls["lora"], MODEL_ID), (urls["lora"], "acme")],
            "int8 NIM": [(urls["int8"], MODEL_ID)],
        }
        senders = {name: [openai_stream_sender(u, m, args.max_tokens) for u, m in targets]
                   for name, targets in setups.items()}
        for r in range(args.rounds):
            for name, parts in senders.items():
                res = run_closed_loop(lambda i, p=parts: p[i % len(p)](i), args.concurrency, args.requests)
                if res.errors:
                    print(f"[bench]   {name} errors: {res.errors[:3]}", file=sys.stderr)
                results["samples"].setdefault(name, []).append(round(res.tokens_per_s, 1))
                print(f"[bench] round {r + 1} {name}: {res.tokens_per_s:.1f} tok/s", flush=True)
    med = {name: statistics.median(s) for name, s in results["samples"].items()}
    results["tok_s"] = med
    results["ratios"] = {
        "adapter / base (same LoRA NIM)": round(med["LoRA NIM, adapter"] / med["LoRA NIM, base"], 2),
        "mixed / base (same LoRA NIM)": round(med["LoRA NIM, mixed"] / med["LoRA NIM, base"], 2),
        "LoRA NIM base / fp32 NIM base": round(med["LoRA NIM, base"] / med["fp32 NIM, base"], 2),
        "int8 / fp32": round(med["int8 NIM"] / med["fp32 NIM, base"], 2),
    }
    print(f"\nmedian of {args.rounds} rounds; concurrency {args.concurrency}, {args.requests} requests x "
          f"{args.max_tokens} tokens per setup and round")
    print("| setup | output tok/s (median) | samples |\n|---|---|---|")
    for name, v in med.items():
        print(f"| {name} | {v:.1f} | {results['samples'][name]} |")
    print("\nratios:")
    for k, v in results["ratios"].items():
        print(f"  {k}: {v}x")
    (out / "middle.json").write_text(json.dumps(results, indent=2))
    _plot(med, out / "middle.png")
    return 0


def _plot(med: dict[str, float], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(8, 3.5))
    colors = ["#888", "#3b7dd8", "#3b7dd8", "#3b7dd8", "#76b900"]
    ax.barh(list(med)[::-1], list(med.values())[::-1], color=colors[::-1])
    ax.set_xlabel("aggregate output tokens/s")
    ax.set_title("course NIM: LoRA adapter vs base, int8 vs fp32")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the `finally` that stops the servers
    sys.exit(main())
