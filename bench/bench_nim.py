"""Course NIM benchmark: optimized (in-flight) vs generic (one at a time) profile, side by side in one run.

Measures aggregate output tokens/s at concurrency 1 and 8 through the HTTP API (official openai SDK,
streaming, fixed output length), the same engine in-process (to price the API layer), whether both
profiles produce identical greedy tokens, and how long each service takes to become ready.

    .venv/bin/python bench/bench_nim.py            # prints a table; writes artifacts/bench/nim.{json,png}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from nimlab.bench.load import PROMPTS, RequestRecord, openai_stream_sender, run_closed_loop
from nimlab.engine import Engine, SamplingParams, load_model
from nimlab.engine.weights import MODEL_ID
from nimlab.lab.launch import course_nim

GEN = "nimlab_generic-fp32-tp1-pp1"


def in_process(cache: Path, concurrency: int, requests: int, max_tokens: int) -> tuple[float, int]:
    """The optimized profile's engine settings, called directly (no HTTP, no JSON, no tokenizing per call)."""
    import torch

    torch.set_num_threads(1)  # the optimized profile's engine_threads
    loaded = load_model("fp32", cache_dir=cache)
    tok = loaded.tokenizer
    ids = [tok(tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                       tokenize=False), add_special_tokens=False)["input_ids"] for p in PROMPTS]
    engine = Engine(loaded, max_num_seqs=8, kv_capacity_tokens=16384, max_model_len=2048)
    engine.start()
    params = SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True)
    for _ in engine.generate(ids[0], SamplingParams(max_tokens=2, temperature=0)):
        pass

    def send(i: int) -> RequestRecord:
        start = time.perf_counter()
        n = sum(len(d.token_ids) for d in engine.generate(ids[i % len(ids)], params))
        return RequestRecord(i, "", n, 0.0, time.perf_counter() - start)

    try:
        res = run_closed_loop(send, concurrency, requests)
    finally:
        engine.stop()
    return res.tokens_per_s, res.output_tokens


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (fixed: ignore_eos)")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--out", default="artifacts/bench", help="folder for nim.json and nim.png")
    args = ap.parse_args()
    cache = Path(os.environ.get("NIM_CACHE_PATH") or Path(tempfile.gettempdir()) / "nimlab-bench-cache")
    os.environ["NIM_CACHE_PATH"] = str(cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"max_tokens": args.max_tokens, "runs": {}, "ready_s": {}}

    def started(label: str, env: dict[str, str] | None):
        t0 = time.perf_counter()
        cm = course_nim(env=env)
        nim = cm.__enter__()
        results["ready_s"][label] = round(time.perf_counter() - t0, 1)
        print(f"[bench] {label}: ready in {results['ready_s'][label]} s at {nim.url}", flush=True)
        return cm, nim

    print("[bench] warming the model cache (first start dequantizes the GGUF)", flush=True)
    with course_nim():
        pass
    cms = []
    try:
        cm_o, opt = started("optimized", None)
        cms.append(cm_o)
        cm_g, gen = started("generic", {"NIM_MODEL_PROFILE": GEN})
        cms.append(cm_g)
        texts = {}
        for c in (1, 8):
            n = c * args.requests_per_client
            for label, nim in (("optimized", opt), ("generic", gen)):
                print(f"[bench] {label}: concurrency {c}, {n} requests x {args.max_tokens} tokens ...", flush=True)
                r = run_closed_loop(openai_stream_sender(nim.url + "/v1", MODEL_ID, args.max_tokens), c, n)
                if r.errors:
                    print(f"[bench]   errors: {r.errors[:3]}", file=sys.stderr)
                results["runs"][f"{label}@{c}"] = {"tok_s": round(r.tokens_per_s, 1), "tokens": r.output_tokens,
                                                   "wall_s": round(r.wall_s, 1), "ttft_p50_ms": round(r.ttft_p50_ms),
                                                   "itl_ms": round(r.itl_ms, 1), "errors": len(r.errors)}
                texts[(label, c)] = [rec.text for rec in r.records]
                print(f"[bench]   {r.tokens_per_s:.1f} tok/s, TTFT p50 {r.ttft_p50_ms:.0f} ms, "
                      f"ITL {r.itl_ms:.1f} ms", flush=True)
        same = sum(a == b for a, b in zip(texts[("optimized", 8)], texts[("generic", 8)], strict=True))
        results["identical_greedy_outputs"] = f"{same}/{len(texts[('optimized', 8)])}"
    finally:
        for cm in reversed(cms):
            cm.__exit__(None, None, None)
    print("[bench] in-process engine (optimized settings), concurrency 8 ...", flush=True)
    tok_s, _ = in_process(cache, 8, 8 * args.requests_per_client, args.max_tokens)
    results["runs"]["in-process@8"] = {"tok_s": round(tok_s, 1)}
    runs = results["runs"]
    results["ratios"] = {
        "optimized/generic@8": round(runs["optimized@8"]["tok_s"] / runs["generic@8"]["tok_s"], 2),
        "optimized/generic@1": round(runs["optimized@1"]["tok_s"] / runs["generic@1"]["tok_s"], 2),
        "http/in-process@8": round(runs["optimized@8"]["tok_s"] / tok_s, 2),
    }
    report(results, out)
    return 0


def report(results: dict, out: Path) -> None:
    runs = results["runs"]
    print("\n| run | output tok/s | TTFT p50 ms | ITL ms | wall s |\n|---|---|---|---|---|")
    for name, r in runs.items():
        print(f"| {name} | {r['tok_s']} | {r.get('ttft_p50_ms', '-')} | {r.get('itl_ms', '-')} | {r.get('wall_s', '-')} |")
    print(f"\nratios: {results['ratios']}")
    print(f"identical greedy outputs (optimized vs generic, concurrency 8): {results['identical_greedy_outputs']}")
    print(f"ready after start (s): {results['ready_s']}")
    (out / "nim.json").write_text(json.dumps(results, indent=2))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [n for n in runs if "@" in n]
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
