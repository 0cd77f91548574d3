"""`nimlab bench`: a concurrency sweep against one or more OpenAI-compatible endpoints, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nimlab.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    p = sub.add_parser("bench", help="concurrency sweep against OpenAI-compatible endpoints (TTFT, ITL, tok/s)")
    p.add_argument("--endpoint", action="append", required=True, metavar="NAME=URL",
                   help="name=base URL ending in /v1 (repeat to compare endpoints in one run)")
    p.add_argument("--model", default=None, help="model name (default: the first one /v1/models lists)")
    p.add_argument("--concurrency", default="1,8", help="comma-separated levels (default 1,8)")
    p.add_argument("--requests-per-client", type=int, default=2, help="requests per concurrent client")
    p.add_argument("--max-tokens", type=int, default=64, help="output tokens per request (fixed: ignore_eos)")
    p.add_argument("--time-limit", type=float, default=600, help="seconds per run before it stops itself")
    p.add_argument("--out", default="artifacts/bench", help="folder for bench.json, bench.csv, bench.png")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (it shows on a terminal only: logs and pipes get the [bench] lines)")
    p.set_defaults(func=func)


def parse_endpoints(items: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not url.startswith(("http://", "https://")):
            raise ConfigError(f"--endpoint {item!r} is not NAME=URL", hint="e.g. --endpoint nim=http://127.0.0.1:8000/v1")
        out.append((name, url.rstrip("/")))
    return out


def first_model(url: str) -> str:
    import httpx

    try:
        return httpx.get(url + "/models", timeout=10).json()["data"][0]["id"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
        raise ConfigError(f"cannot list models at {url}/models ({exc})",
                          hint="is the service up? (`nimlab lab status`) or pass --model") from exc


def _ticking(send, bar):
    """`send`, ticking the progress bar once per request, sent or failed."""

    def counted(i: int):
        try:
            return send(i)
        finally:
            bar.update(1)

    return counted


def _failed(result) -> int:
    return sum(e.startswith("request ") for e in result.errors)


def run(args: argparse.Namespace) -> int:
    # imported here so that `nimlab --help` stays fast
    from tqdm import tqdm

    from nimlab.bench.load import openai_stream_sender, run_closed_loop
    from nimlab.bench.report import ratios, table, write
    from nimlab.bench.stats import RunStats, summarize

    endpoints = parse_endpoints(args.endpoint)
    try:
        levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    except ValueError as exc:
        raise ConfigError(f"--concurrency {args.concurrency!r} is not a list of integers", hint="e.g. 1,2,4,8") from exc
    runs: list[RunStats] = []
    total = sum(c * args.requests_per_client for c in levels) * len(endpoints)
    # one bar for the whole sweep, a tick per finished request (on a terminal only: disable=None keeps CI logs
    # and pipes to the [bench] lines, which tqdm.write prints above the bar)
    with tqdm(total=total, unit="req", desc="sweep", disable=args.no_progress or None, file=sys.stderr,
              dynamic_ncols=True) as bar:
        for c in levels:
            for name, url in endpoints:
                model = args.model or first_model(url)
                n = c * args.requests_per_client
                bar.set_description(f"{name} @ {c}")
                tqdm.write(f"[bench] {name}: concurrency {c}, {n} requests x {args.max_tokens} tokens ...")
                result = run_closed_loop(_ticking(openai_stream_sender(url, model, args.max_tokens), bar), c, n,
                                         args.time_limit)
                bar.update(n - len(result.records) - _failed(result))  # requests a time limit never sent
                stats = summarize(name, result)
                runs.append(stats)
                tqdm.write(f"[bench]   {stats.output_tokens_per_s:.1f} tok/s, TTFT p50 {stats.ttft_ms.p50:.0f} ms, "
                           f"{stats.errors} errors")
                for err in result.errors[:3]:
                    tqdm.write(f"[bench]   error: {err}", file=sys.stderr)
    print()
    print(table(runs))
    for line in ratios(runs, endpoints[0][0]):
        print(line)
    paths = write(runs, Path(args.out), {"endpoints": dict(endpoints), "max_tokens": args.max_tokens,
                                         "concurrency": levels})
    print("wrote: " + ", ".join(str(p) for p in paths))
    return 1 if any(r.errors for r in runs) else 0
