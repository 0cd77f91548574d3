"""Course NIM benchmark: optimized (in-flight) vs generic (one at a time) profile, side by side in one run.

Measures aggregate output tokens/s at concurrency 1 and 8 through the HTTP API (official openai SDK,
streaming, fixed output length), the same engine in-process (to price the API layer), whether both
profiles produce identical greedy tokens, and how long each service takes to become ready. Every setup is
measured in turn, round after round, and the median of the rounds is reported, so a busy neighbour on the
machine slows all of them alike instead of whichever happened to run at the time.

    .venv/bin/python bench/bench_nim.py [--rounds 3]   # prints a table; writes artifacts/bench/nim.{json,png}
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

from nimlab.bench.load import PROMPTS, RequestRecord, openai_stream_sender, run_closed_loop
from nimlab.engine import Engine, SamplingParams, load_model
from nimlab.engine.chat import encode_question
from nimlab.engine.weights import MODEL_ID
from nimlab.lab.launch import course_nim

GEN = "nimlab_generic-fp32-tp1-pp1"


def in_process_sender(cache: Path, max_tokens: int):
    """The optimized profile's engine settings, called directly (no HTTP, no JSON, no SSE)."""
    import torch

    torch.set_num_threads(1)  # the optimized profile's engine_threads
    loaded = load_model("fp32", cache_dir=cache)
    tok = loaded.tokenizer
    ids = [encode_question(tok, p) for p in PROMPTS]
    engine = Engine(loaded, max_num_seqs=8, kv_capacity_tokens=16384, max_model_len=2048)
    engine.start()
    params = SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True)
    for _ in engine.generate(ids[0], SamplingParams(max_tokens=2, temperature=0)):
        pass

    def send(i: int) -> RequestRecord:
        start = time.perf_counter()
        n = sum(len(d.token_ids) for d in engine.generate(ids[i % len(ids)], params))
        return RequestRecord(i, "", n, 0.0, time.perf_counter() - start)

    return engine, send


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (fixed: ignore_eos)")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="measurements per setup; the median is reported")
    ap.add_argument("--out", default="artifacts/bench", help="folder for nim.json and nim.png")
    args = ap.parse_args()
    cache = Path(os.environ.get("NIM_CACHE_PATH") or Path(tempfile.gettempdir()) / "nimlab-bench-cache")
    os.environ["NIM_CACHE_PATH"] = str(cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"max_tokens": args.max_tokens, "rounds": args.rounds, "runs": {}, "ready_s": {}, "samples": {}}

    print("[bench] warming the model cache (the first start ever dequantizes the GGUF)", flush=True)
    with course_nim():
        pass
    with ExitStack() as stack:
        nims = {}
        for label, env in (("optimized", None), ("generic", {"NIM_MODEL_PROFILE": GEN})):
            t0 = time.perf_counter()
            nims[label] = stack.enter_context(course_nim(env=env))
            results["ready_s"][label] = round(time.perf_counter() - t0, 1)
            print(f"[bench] {label}: ready in {results['ready_s'][label]} s at {nims[label].url}", flush=True)
        engine, in_proc = in_process_sender(cache, args.max_tokens)
        stack.callback(engine.stop)
        senders = {label: openai_stream_sender(n.url + "/v1", MODEL_ID, args.max_tokens) for label, n in nims.items()}
        texts: dict[tuple[str, int], list[str]] = {}
        for c in (1, 8):
            n = c * args.requests_per_client
            setups = [*senders.items(), *([("in-process", in_proc)] if c == 8 else [])]
            for r in range(args.rounds):
                for label, send in setups:
                    res = run_closed_loop(send, c, n)
                    key = f"{label}@{c}"
                    results["samples"].setdefault(key, []).append(round(res.tokens_per_s, 1))
                    if res.errors:
                        print(f"[bench]   {key} errors: {res.errors[:3]}", file=sys.stderr)
                    if label != "in-process":
                        texts.setdefault((label, c), [rec.text for rec in res.records])
                        results["runs"].setdefault(key, {"ttft_p50_ms": [], "itl_ms": []})
                        results["runs"][key]["ttft_p50_ms"].append(res.ttft_p50_ms)
                        results["runs"][key]["itl_ms"].append(res.itl_ms)
                    print(f"[bench] round {r + 1} {key}: {res.tokens_per_s:.1f} tok/s "
                          f"({res.output_tokens} tokens in {res.wall_s:.1f} s)", flush=True)
        same = sum(a == b for a, b in zip(texts[("optimized", 8)], texts[("generic", 8)], strict=True))
        results["identical_greedy_outputs"] = f"{same}/{len(texts[('optimized', 8)])}"
    runs = {}
    for key, samples in results["samples"].items():
        row = {"tok_s": round(statistics.median(samples), 1)}
        if key in results["runs"]:
            row["ttft_p50_ms"] = round(statistics.median(results["runs"][key]["ttft_p50_ms"]))
            row["itl_ms"] = round(statistics.median(results["runs"][key]["itl_ms"]), 1)
        runs[key] = row
    results["runs"] = runs
    results["ratios"] = {
        "optimized/generic@8": round(runs["optimized@8"]["tok_s"] / runs["generic@8"]["tok_s"], 2),
        "optimized/generic@1": round(runs["optimized@1"]["tok_s"] / runs["generic@1"]["tok_s"], 2),
        "http/in-process@8": round(runs["optimized@8"]["tok_s"] / runs["in-process@8"]["tok_s"], 2),
    }
    report(results, out)
    return 0


def report(results: dict, out: Path) -> None:
    runs = results["runs"]
    print(f"\nmedian of {results['rounds']} rounds, {results['max_tokens']} output tokens per request")
    print("| run | output tok/s | samples | TTFT p50 ms | ITL ms |\n|---|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['tok_s']} | {results['samples'][name]} | {r.get('ttft_p50_ms', '-')} | "
              f"{r.get('itl_ms', '-')} |")
    print(f"\nratios: {results['ratios']}")
    print(f"identical greedy outputs (optimized vs generic, concurrency 8): {results['identical_greedy_outputs']}")
    print(f"ready after start (s): {results['ready_s']}")
    (out / "nim.json").write_text(json.dumps(results, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(runs)
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.bar(names, [runs[n]["tok_s"] for n in names],
               color=["#76b900" if n.startswith("optimized") else "#888" if n.startswith("generic") else "#3b7dd8"
                      for n in names])
        ax.set_ylabel("aggregate output tokens/s")
        ax.set_title("course NIM: optimized (in-flight) vs generic profile")
        fig.tight_layout()
        fig.savefig(out / "nim.png", dpi=110)
        print(f"plot: {out / 'nim.png'}")
    except ImportError:
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the `finally` that stops the servers
    sys.exit(main())
