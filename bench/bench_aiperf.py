"""`nimlab bench` checked against NVIDIA's aiperf on one course NIM: do the two tools report the same figures?

One course NIM (optimized profile) is started; against that endpoint aiperf and nimlab's load generator run in
turn (aiperf, nimlab, aiperf, nimlab, ...) with the same concurrency, the same request count, the same prompts
(nimlab's eight, fed to aiperf as a single_turn dataset in the same order), the same fixed output length
(`ignore_eos`) and greedy decoding. The medians over the rounds are compared metric by metric (TTFT p50, ITL
avg, output tok/s, request/s) as ours/aiperf, each judged PASS or DIFFER against a stated tolerance.
Separately, nimlab's statistics are recomputed over aiperf's own per-request records (profile_export.jsonl):
the "same records" column is the largest gap from aiperf's figures, i.e. a check of the metric definitions
alone, free of run-to-run noise.

On a machine with two or more CPUs the server is pinned to CPU 0 and both clients to CPU 1, so that aiperf's
own processes (it runs a dozen services) and nimlab's client threads do not take CPU time from the server
unequally; `--no-pin` turns that off.

    bash scripts/aiperf-venv.sh                      # once: aiperf 0.13.0 in .nimlab/aiperf-venv
    .venv/bin/python bench/bench_aiperf.py [--rounds 2] [--concurrency 1,4] [--requests 8] [--max-tokens 32]
    # prints a table; writes artifacts/bench/aiperf_vs_nimlab.json (aiperf's own exports under aiperf_runs/)
    .venv/bin/python bench/bench_aiperf.py --reanalyse   # recompute the table from those files, no new runs
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from nimlab.bench.load import PROMPTS, LoadResult, RequestRecord, openai_stream_sender, run_closed_loop
from nimlab.bench.stats import summarize
from nimlab.engine.weights import MODEL_ID, locate_gguf
from nimlab.lab.launch import course_nim

ROOT = Path(__file__).resolve().parent.parent
AIPERF = ROOT / ".nimlab" / "aiperf-venv" / "bin" / "aiperf"
TOKENIZER = ROOT / ".nimlab" / "aiperf-tokenizer"
METRICS = ("ttft_p50_ms", "itl_avg_ms", "output_tok_s", "req_s")
LABELS = {"ttft_p50_ms": "TTFT p50 (ms)", "itl_avg_ms": "ITL avg (ms)", "output_tok_s": "output tok/s",
          "req_s": "request/s"}
# ours/aiperf may be off by this fraction either way and still count as agreement. Throughput and ITL are
# long-window averages over the same token stream: 15%. TTFT p50 is a few hundred ms of queueing plus one
# prefill, sensitive to when each client wakes up and to the 2-core machine's other load: 25%.
TOLERANCE = {"ttft_p50_ms": 0.25, "itl_avg_ms": 0.15, "output_tok_s": 0.15, "req_s": 0.15}


def fail(msg: str, hint: str) -> None:
    print(f"error: {msg}\n  next: {hint}", file=sys.stderr)
    raise SystemExit(2)


def tokenizer_dir() -> Path:
    """aiperf wants an HF tokenizer folder; make one from the GGUF the course NIM serves (once)."""
    if (TOKENIZER / "tokenizer.json").is_file():
        return TOKENIZER
    from transformers import AutoTokenizer

    gguf = locate_gguf()
    print(f"[bench] writing an HF tokenizer folder for aiperf from {gguf.name} -> {TOKENIZER}", flush=True)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(TOKENIZER)
    return TOKENIZER


def dataset(path: Path, max_tokens: int) -> Path:
    """nimlab's prompts, in nimlab's order, as an aiperf single_turn JSONL with a fixed output length."""
    path.write_text("".join(json.dumps({"text": p, "output_length": max_tokens}) + "\n" for p in PROMPTS))
    return path


def run_aiperf(url: str, tok: Path, data: Path, out: Path, concurrency: int, requests: int, max_tokens: int,
               cpus: str | None) -> dict:
    extra = json.dumps({"ignore_eos": True, "min_tokens": max_tokens, "temperature": 0})
    argv = [str(AIPERF), "profile", "--model", MODEL_ID, "--tokenizer", str(tok), "--url", url,
            "--endpoint-type", "chat", "--streaming", "--concurrency", str(concurrency),
            "--request-count", str(requests), "--input-file", str(data), "--custom-dataset-type", "single_turn",
            "--dataset-sampling-strategy", "sequential", "--extra-inputs", extra, "--use-server-token-count",
            "--ui-type", "simple", "--artifact-dir", str(out), "--no-gpu-telemetry"]
    pre = ["taskset", "-c", cpus] if cpus else []
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}  # offline mode breaks local folders
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with (out / "console.log").open("w") as log:
        rc = subprocess.run([*pre, *argv], stdout=log, stderr=subprocess.STDOUT, env=env, timeout=900,
                            check=False).returncode
    wall = time.perf_counter() - t0
    export = out / "profile_export_aiperf.json"
    if rc != 0 or not export.is_file():
        tail = "\n".join((out / "console.log").read_text(errors="replace").splitlines()[-15:])
        fail(f"aiperf exited with {rc} at concurrency {concurrency}:\n{tail}", f"read {out / 'console.log'}")
    d = json.loads(export.read_text())
    row = {
        "ttft_p50_ms": d["time_to_first_token"]["p50"],
        "itl_avg_ms": d["inter_token_latency"]["avg"],
        "output_tok_s": d["output_token_throughput"]["avg"],
        "req_s": d["request_throughput"]["avg"],
        "requests": int(d["request_count"]["avg"]),
        "output_tokens": int(d["total_osl"]["avg"]) if "total_osl" in d else None,
        "isl_avg": d.get("input_sequence_length", {}).get("avg"),
        "errors": sum(e.get("count", 0) for e in d.get("error_summary") or []),
        "duration_s": d["benchmark_duration"]["avg"],
        "process_wall_s": round(wall, 1),
    }
    row["command"] = shlex.join(argv)
    row["nimlab_stats_on_these_records"] = nimlab_on_aiperf_records(out, concurrency)
    return row


def nimlab_on_aiperf_records(run_dir: Path, concurrency: int) -> dict:
    """nimlab's statistics (nimlab.bench.stats.summarize) over aiperf's own per-request records: the same
    requests measured once, so any gap here is a difference of definitions, not of load or timing."""
    recs = [json.loads(line) for line in (run_dir / "profile_export.jsonl").read_text().splitlines() if line]
    recs = [r for r in recs if "time_to_first_token" in r.get("metrics", {})]
    records = [RequestRecord(i, "", int(r["metrics"]["output_sequence_length"]["value"]),
                             r["metrics"]["time_to_first_token"]["value"] / 1000,
                             r["metrics"]["request_latency"]["value"] / 1000) for i, r in enumerate(recs)]
    wall = (max(r["metadata"]["request_end_ns"] for r in recs)
            - min(r["metadata"]["request_start_ns"] for r in recs)) / 1e9
    s = summarize("nimlab-on-aiperf", LoadResult(concurrency, wall, records))
    return {"ttft_p50_ms": s.ttft_ms.p50, "itl_avg_ms": s.itl_ms.avg, "output_tok_s": s.output_tokens_per_s,
            "req_s": s.requests_per_s}


def run_ours(url: str, concurrency: int, requests: int, max_tokens: int) -> dict:
    res = run_closed_loop(openai_stream_sender(url + "/v1", MODEL_ID, max_tokens), concurrency, requests)
    s = summarize("nimlab", res)
    return {"ttft_p50_ms": s.ttft_ms.p50, "itl_avg_ms": s.itl_ms.avg, "output_tok_s": s.output_tokens_per_s,
            "req_s": s.requests_per_s, "requests": s.requests, "output_tokens": res.output_tokens,
            "errors": s.errors, "duration_s": res.wall_s}


def verdict(metric: str, ratio: float) -> str:
    return "PASS" if abs(ratio - 1) <= TOLERANCE[metric] else "DIFFER"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", default="1,4", help="comma-separated levels (default 1,4)")
    ap.add_argument("--requests", type=int, default=8, help="requests per run, both tools (default 8)")
    ap.add_argument("--max-tokens", type=int, default=32, help="output tokens per request, fixed (default 32)")
    ap.add_argument("--rounds", type=int, default=2, help="runs per tool per level; medians are reported")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the server to CPU 0 and clients to CPU 1")
    ap.add_argument("--out", default="artifacts/bench", help="folder for aiperf_vs_nimlab.json")
    ap.add_argument("--reanalyse", action="store_true",
                    help="no new runs: recompute the summary from the JSON and aiperf exports under --out")
    args = ap.parse_args()
    if args.reanalyse:
        return reanalyse(Path(args.out))
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    if not AIPERF.is_file():
        fail(f"{AIPERF} is missing", "run `bash scripts/aiperf-venv.sh` (aiperf 0.13.0 in its own venv)")
    out = Path(args.out)
    runs_dir = out / "aiperf_runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_dir()
    data = dataset(runs_dir / "prompts.jsonl", args.max_tokens)
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    server_cpus, client_cpus = ("0", "1") if pin else (None, None)

    results: dict = {"model": MODEL_ID, "max_tokens": args.max_tokens, "requests": args.requests,
                     "concurrency": levels, "rounds": args.rounds, "pinned": pin,
                     "aiperf_version": "0.13.0", "tolerance": TOLERANCE, "samples": {}, "levels": {}}
    with course_nim(cpus=server_cpus) as nim:
        print(f"[bench] course NIM (optimized profile) at {nim.url}" + (" pinned to CPU 0" if pin else ""),
              flush=True)
        if pin:
            os.sched_setaffinity(0, {1})  # nimlab's client threads (this process) on CPU 1, like aiperf
        run_ours(nim.url, 1, 2, 4)  # warm-up, not measured
        for c in levels:
            for r in range(args.rounds):
                for tool in ("aiperf", "nimlab"):
                    if tool == "aiperf":
                        row = run_aiperf(nim.url, tok, data, runs_dir / f"c{c}_r{r + 1}", c, args.requests,
                                         args.max_tokens, client_cpus)
                    else:
                        row = run_ours(nim.url, c, args.requests, args.max_tokens)
                    results["samples"].setdefault(f"{tool}@{c}", []).append(row)
                    print(f"[bench] round {r + 1} {tool:>6} @ concurrency {c}: {row['output_tok_s']:.2f} tok/s, "
                          f"{row['req_s']:.3f} req/s, TTFT p50 {row['ttft_p50_ms']:.0f} ms, ITL avg "
                          f"{row['itl_avg_ms']:.1f} ms, {row['output_tokens']} tokens, {row['errors']} errors",
                          flush=True)
    return finish(results, out)


def reanalyse(out: Path) -> int:
    path = out / "aiperf_vs_nimlab.json"
    if not path.is_file():
        fail(f"{path} is missing", "run bench/bench_aiperf.py without --reanalyse first")
    results = json.loads(path.read_text())
    for key, rows in results["samples"].items():
        tool, c = key.split("@")
        if tool == "aiperf":
            for r, row in enumerate(rows):
                row["nimlab_stats_on_these_records"] = nimlab_on_aiperf_records(
                    out / "aiperf_runs" / f"c{c}_r{r + 1}", int(c))
    return finish(results, out)


def finish(results: dict, out: Path) -> int:
    levels = results["concurrency"]
    for c in levels:
        level = {}
        for m in METRICS:
            a = statistics.median(s[m] for s in results["samples"][f"aiperf@{c}"])
            o = statistics.median(s[m] for s in results["samples"][f"nimlab@{c}"])
            ratio = o / a if a else float("nan")
            level[m] = {"aiperf": round(a, 3), "nimlab": round(o, 3), "ratio": round(ratio, 3),
                        "verdict": verdict(m, ratio)}
        # definitions: nimlab's statistics over aiperf's records vs aiperf's own figures, per run, worst case
        level["definitions_max_abs_gap"] = {
            m: round(max(abs(s["nimlab_stats_on_these_records"][m] / s[m] - 1)
                         for s in results["samples"][f"aiperf@{c}"]), 4) for m in METRICS}
        level["isl_avg_aiperf"] = results["samples"][f"aiperf@{c}"][0]["isl_avg"]
        results["levels"][str(c)] = level
    results["aiperf_command_example"] = results["samples"][f"aiperf@{levels[0]}"][0]["command"]
    print()
    print(table(results))
    path = out / "aiperf_vs_nimlab.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote: {path}")
    return 0


def table(results: dict) -> str:
    lines = ["| conc | metric | aiperf | nimlab | ours/aiperf | tolerance | verdict | same records |",
             "|" + "---|" * 8]
    for c, level in results["levels"].items():
        for m in METRICS:
            x = level[m]
            gap = level["definitions_max_abs_gap"][m]
            lines.append(f"| {c} | {LABELS[m]} | {x['aiperf']:.2f} | {x['nimlab']:.2f} | {x['ratio']:.2f} | "
                         f"±{TOLERANCE[m]:.0%} | {x['verdict']} | {gap:.2%} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
