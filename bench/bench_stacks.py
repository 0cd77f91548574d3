"""Hand-built stack (Triton) vs course NIM: aggregate output tok/s at the same load, in one run.

    .venv/bin/python bench/bench_stacks.py [--concurrency 8] [--requests 16] [--max-tokens 64] [--json OUT]

All three stacks are started side by side (~5 GB together): the course NIM (optimized profile, auto-selected),
the tuned Triton stack, the untuned one (1 instance, no dynamic batching, V1). They are then measured in
turn, round after round (`--rounds`), and each stack's median is reported, so a busy neighbour on the
machine slows every stack alike rather than whichever one happened to run then. The load is the same for all: streaming chat through the OpenAI SDK, greedy, fixed output
length (`ignore_eos` via extra_body), `--concurrency` clients until `--requests` are done.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nimlab.lab.launch import course_nim  # noqa: E402
from nimlab.triton.launcher import hand_built_stack  # noqa: E402

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


def load(base_url: str, concurrency: int, requests: int, max_tokens: int) -> dict[str, float]:
    client = OpenAI(base_url=base_url + "/v1", api_key="not-used", max_retries=0, timeout=600)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm up"}], max_tokens=4)
    todo, lock, tokens, errors = list(range(requests)), threading.Lock(), [], []

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop()
            try:
                stream = client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"Write a long story about robot number {n}."}],
                    max_tokens=max_tokens, temperature=0, stream=True, stream_options={"include_usage": True},
                    extra_body={"ignore_eos": True})
                usage = [c.usage for c in stream if c.usage]
                tokens.append(usage[-1].completion_tokens)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(repr(exc))

    start = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    wall = time.monotonic() - start
    if errors:
        print(f"  {len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    return {"requests": len(tokens), "errors": len(errors), "output_tokens": sum(tokens), "wall_s": round(wall, 2),
            "output_tok_s": round(sum(tokens) / wall, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2, help="measure each stack this many times, interleaved")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    def nim() -> AbstractContextManager:
        return course_nim()

    stacks = {
        "course NIM (optimized profile)": (nim, lambda r: r.url),
        "hand-built Triton (tuned)": (lambda: hand_built_stack("tuned"), lambda r: r[1].url),
        "hand-built Triton (untuned: 1 instance, no batching, V1)": (lambda: hand_built_stack("untuned"), lambda r: r[1].url),
    }
    import contextlib
    import statistics

    runs: dict[str, list[dict[str, float]]] = {name: [] for name in stacks}
    with contextlib.ExitStack() as stack:
        urls = {}
        for name, (start, url_of) in stacks.items():
            t0 = time.monotonic()
            urls[name] = url_of(stack.enter_context(start()))
            print(f"== {name}: ready in {time.monotonic() - t0:.1f} s at {urls[name]}", file=sys.stderr, flush=True)
        for rnd in range(args.rounds):
            for name in stacks:
                runs[name].append(load(urls[name], args.concurrency, args.requests, args.max_tokens))
                print(f"   round {rnd + 1} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    results = {name: {"output_tok_s": statistics.median(r["output_tok_s"] for r in rs),
                      "rounds": [r["output_tok_s"] for r in rs], "errors": sum(r["errors"] for r in rs)}
               for name, rs in runs.items()}

    nim_tps = results["course NIM (optimized profile)"]["output_tok_s"]
    print(f"\n{'stack':58s} {'output tok/s':>12s} {'vs NIM':>7s}")
    for name, r in results.items():
        print(f"{name:58s} {r['output_tok_s']:12.1f} {r['output_tok_s'] / nim_tps:7.2f}")
    tuned = results["hand-built Triton (tuned)"]["output_tok_s"]
    untuned = results["hand-built Triton (untuned: 1 instance, no batching, V1)"]["output_tok_s"]
    print(f"\ntuned / NIM = {tuned / nim_tps:.2f} (claim: within 0.85-1.15); untuned / NIM = {untuned / nim_tps:.2f}; "
          f"tuned / untuned = {tuned / untuned:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
