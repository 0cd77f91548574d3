"""Course NIM benchmark: the profile decision priced side by side in one run.

Setups, all up at once and measured in turn, round after round (the median of the rounds is reported, so a
busy neighbour slows every setup alike):

- optimized      auto-selection on this machine: `nimlab_native-cpu-int8-tp1-pp1-throughput`
- generic        forced `nimlab_torch-fp32-tp1-pp1` (what one usable CPU or a CPU without AVX2 gets):
                 batches in flight too, so only the engine separates it from the optimized one
- misconfigured  the optimized profile with NIM_PASSTHROUGH_ARGS="--max-num-seqs 1" (one request at a time)
- transformers   the stock CPU server a learner would otherwise start on the same model folder:
                 `transformers serve --continuous-batching` on the course NIM's model workspace

Each NIM's /v1/metrics is polled while it runs at concurrency 8: `num_request_max` and the most
`num_requests_running` seen (batching observed, not assumed). After the rounds, each NIM answers the
course's evaluation set (24 questions, greedy) for its task score, and a generic NIM under `taskset -c 0`
shows that the fallback still answers. Streaming chat through the official openai SDK, fixed output length.

    .venv/bin/python bench/bench_nim.py [--rounds 3]   # prints tables; writes artifacts/bench/nim.{json,png}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families
from tqdm import tqdm

from nimlab.bench.load import PROMPTS, RequestRecord, openai_stream_sender, run_closed_loop
from nimlab.engine.weights import MODEL_ID, cached_model_dir
from nimlab.lab.launch import course_nim, free_port, launched
from nimlab.nim.client import running_profile
from nimlab.precision.evalset import EVAL_SET

GENERIC = "nimlab_torch-fp32-tp1-pp1"
SETUPS = {
    "optimized": None,
    "generic": {"NIM_MODEL_PROFILE": GENERIC},
    "misconfigured": {"NIM_PASSTHROUGH_ARGS": "--max-num-seqs 1"},
}


def metric(url: str, name: str) -> float | None:
    text = httpx.get(url + "/v1/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


class BusiestBatch:
    """Polls num_requests_running every 50 ms while a load runs; `peak` is the largest batch seen."""

    def __init__(self, url: str) -> None:
        self.url, self.peak, self._stop = url, 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            with suppress(httpx.HTTPError):
                self.peak = max(self.peak, int(metric(self.url, "num_requests_running") or 0))

    def __enter__(self) -> BusiestBatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def peer_sender(base_url: str, model: str, max_tokens: int):
    """Like openai_stream_sender, counting streamed content chunks when the server sends no usage."""
    client = OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=600)

    def send(i: int) -> RequestRecord:
        start = time.perf_counter()
        first, parts, tokens, chunks = None, [], 0, 0
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], temperature=0,
            max_tokens=max_tokens, stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first if first is not None else time.perf_counter() - start
                parts.append(chunk.choices[0].delta.content)
                chunks += 1
            if getattr(chunk, "usage", None) is not None and chunk.usage.completion_tokens:
                tokens = chunk.usage.completion_tokens
        return RequestRecord(i, "".join(parts), tokens or chunks, first or 0.0, time.perf_counter() - start)

    return send


def task_score(url: str) -> int:
    """Questions of the evaluation set answered right, greedy, through the API (as a user would ask)."""
    client = OpenAI(base_url=url + "/v1", api_key="not-needed-locally", max_retries=0, timeout=300)
    right = 0
    for item in EVAL_SET:
        reply = client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": item.prompt}],
                                               temperature=0, max_tokens=48).choices[0].message.content or ""
        right += item.scores(reply)
    return right


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (fixed: ignore_eos)")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="measurements per setup; the median is reported")
    ap.add_argument("--no-peer", action="store_true", help="leave out `transformers serve`")
    ap.add_argument("--out", default="artifacts/bench", help="folder for nim.json and nim.png")
    args = ap.parse_args()
    cache = Path(os.environ.get("NIM_CACHE_PATH") or Path(tempfile.gettempdir()) / "nimlab-bench-cache")
    os.environ["NIM_CACHE_PATH"] = str(cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {"max_tokens": args.max_tokens, "rounds": args.rounds, "samples": {}, "tokens_per_request": {},
                 "ready_s": {}, "profiles": {}, "num_request_max": {}, "busiest_batch": {}, "task_score": {}}

    print("[bench] warming the model cache (the first start ever dequantizes the GGUF)", flush=True)
    with course_nim(env={"NIM_MODEL_PROFILE": GENERIC}):
        pass
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        for label, env in SETUPS.items():
            t0 = time.perf_counter()
            urls[label] = stack.enter_context(course_nim(env=env)).url
            res["ready_s"][label] = round(time.perf_counter() - t0, 1)
            found = running_profile(urls[label])
            res["profiles"][label] = found.name if found else None
            res["num_request_max"][label] = metric(urls[label], "num_request_max")
            print(f"[bench] {label}: {res['profiles'][label]} ready in {res['ready_s'][label]} s, "
                  f"num_request_max {res['num_request_max'][label]:g}", flush=True)
        senders = {label: openai_stream_sender(url + "/v1", MODEL_ID, args.max_tokens) for label, url in urls.items()}
        if not args.no_peer:
            port = free_port()
            folder = str(cached_model_dir(cache))
            argv = [str(Path(sys.executable).with_name("transformers")), "serve", "--continuous-batching",
                    "--cb-num-blocks", "64", "--device", "cpu", "--host", "127.0.0.1", "--port", str(port), folder]
            t0 = time.perf_counter()
            stack.enter_context(launched(argv, f"http://127.0.0.1:{port}", "/health", env={"HF_HUB_OFFLINE": "1"}))
            res["ready_s"]["transformers"] = round(time.perf_counter() - t0, 1)
            senders["transformers"] = peer_sender(f"http://127.0.0.1:{port}/v1", folder, args.max_tokens)
            print(f"[bench] transformers serve --continuous-batching ready in {res['ready_s']['transformers']} s",
                  flush=True)
        plan = [(label, 8) for label in senders] + [("optimized", 1), ("generic", 1)]
        with tqdm(total=args.rounds * len(plan), desc="[bench] rounds x setups", unit="run") as bar:
            for r in range(args.rounds):
                for label, c in plan:
                    # the one-at-a-time setup gets fewer requests: the same figure, a third of the wait
                    n = c * (1 if label == "misconfigured" else args.requests_per_client)
                    key = f"{label}@{c}"
                    if label in urls and c == 8:
                        with BusiestBatch(urls[label]) as seen:
                            run = run_closed_loop(senders[label], c, n, time_limit_s=300)
                        res["busiest_batch"][label] = max(res["busiest_batch"].get(label, 0), seen.peak)
                    else:
                        run = run_closed_loop(senders[label], c, n, time_limit_s=300)
                    if run.errors:
                        tqdm.write(f"[bench]   {key} errors: {run.errors[:3]}")
                    res["samples"].setdefault(key, []).append(round(run.tokens_per_s, 1))
                    res["tokens_per_request"][key] = round(run.output_tokens / max(1, len(run.records)), 1)
                    tqdm.write(f"[bench] round {r + 1} {key}: {run.tokens_per_s:.1f} tok/s")
                    bar.update(1)
        for label in ("optimized", "generic"):
            res["task_score"][label] = task_score(urls[label])
            print(f"[bench] {label}: evaluation set {res['task_score'][label]}/{len(EVAL_SET)}", flush=True)
    print("[bench] one usable CPU (taskset -c 0): what auto-selection picks, and that it still answers", flush=True)
    with course_nim(cpus="0") as one_cpu:
        found = running_profile(one_cpu.url)
        run = run_closed_loop(openai_stream_sender(one_cpu.url + "/v1", MODEL_ID, 16), 4, 4, time_limit_s=300)
        res["one_cpu"] = {"profile": found.name if found else None, "answered": len(run.records),
                          "errors": len(run.errors), "num_request_max": metric(one_cpu.url, "num_request_max")}
    tok = {key: statistics.median(v) for key, v in res["samples"].items()}
    res["tok_s"] = tok
    res["ratios"] = {
        "optimized/generic@8": round(tok["optimized@8"] / tok["generic@8"], 2),
        "optimized/generic@1": round(tok["optimized@1"] / tok["generic@1"], 2),
        "optimized/misconfigured@8": round(tok["optimized@8"] / tok["misconfigured@8"], 2),
    }
    if "transformers@8" in tok:
        res["ratios"]["optimized/transformers@8"] = round(tok["optimized@8"] / tok["transformers@8"], 2)
        res["ratios"]["generic/transformers@8"] = round(tok["generic@8"] / tok["transformers@8"], 2)
    report(res, out)
    return 0


def report(res: dict, out: Path) -> None:
    print(f"\nmedian of {res['rounds']} rounds, {res['max_tokens']} output tokens per request (command: "
          f"python bench/bench_nim.py --rounds {res['rounds']})")
    print("| setup | profile | num_request_max | busiest batch seen | output tok/s | samples | tokens/request |")
    print("|---|---|---|---|---|---|---|")
    for key, samples in res["samples"].items():
        label = key.split("@")[0]
        print(f"| {key} | {res['profiles'].get(label, 'transformers serve --continuous-batching')} | "
              f"{res['num_request_max'].get(label, '-')} | "
              f"{res['busiest_batch'].get(label, '-') if key.endswith('@8') else '-'} | {res['tok_s'][key]:.1f} | "
              f"{samples} | {res['tokens_per_request'][key]} |")
    print(f"\nratios: {res['ratios']}")
    print(f"task score on the evaluation set: {res['task_score']} of {len(EVAL_SET)}")
    print(f"one usable CPU: {res['one_cpu']}")
    print(f"ready after start (s): {res['ready_s']}")
    (out / "nim.json").write_text(json.dumps(res, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(res["tok_s"])
    colors = {"optimized": "#76b900", "generic": "#888", "misconfigured": "#d9534f", "transformers": "#3b7dd8"}
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.bar(keys, [res["tok_s"][k] for k in keys], color=[colors[k.split("@")[0]] for k in keys])
    ax.set_ylabel("aggregate output tokens/s")
    ax.set_title("course NIM: optimized vs generic vs misconfigured vs transformers serve")
    ax.tick_params(axis="x", labelrotation=20)
    fig.tight_layout()
    fig.savefig(out / "nim.png", dpi=110)
    print(f"plot: {out / 'nim.png'}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the `finally` that stops the servers
    sys.exit(main())
