"""`nimlab precision validate`: the numbers to decide whether a lower-precision profile is acceptable."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from nimlab.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction, func: Callable[[argparse.Namespace], int]) -> None:
    from nimlab.precision.criteria import Thresholds

    t = Thresholds()
    prec = sub.add_parser("precision", help="validate a lower-precision profile against fp32")
    verbs = prec.add_subparsers(dest="precision_command", required=True, metavar="ACTION")
    p = verbs.add_parser("validate", help="agreement, task score and speed of a candidate precision vs fp32")
    p.add_argument("--candidate", default="int8",
                   help="precision (int8, bf16) or a profile id/name from the manifest (default int8)")
    p.add_argument("--reference", default="fp32", help="precision to compare against (default fp32)")
    p.add_argument("--max-score-drop", type=float, default=t.max_score_drop,
                   help=f"largest acceptable drop in task score, as a fraction (default {t.max_score_drop})")
    p.add_argument("--min-token-agreement", type=float, default=t.min_token_agreement,
                   help=f"smallest acceptable teacher-forced token agreement (default {t.min_token_agreement})")
    p.add_argument("--limit", type=int, default=None, help="use only the first N questions (a quick smoke run)")
    p.add_argument("--rounds", type=int, default=2, help="throughput rounds per precision (default 2)")
    p.add_argument("--json", type=Path, default=None, help="also write the full report (every reply) here")
    p.add_argument("--cache", type=Path, default=None, help="model workspace cache (default NIM_CACHE_PATH)")
    p.set_defaults(func=func)


def resolve(name: str) -> str:
    """A precision name, or the precision of the manifest profile named by id or name."""
    from nimlab.engine.precision import PRECISIONS
    from nimlab.nim.manifest import load_manifest

    if name in PRECISIONS:
        return name
    profile = load_manifest().find(name)
    if profile is None or profile.runtime is None:
        raise ConfigError(f"{name!r} is neither a precision ({', '.join(PRECISIONS)}) nor a runnable profile",
                          hint="run `nimlab list-model-profiles` for profile names")
    return profile.runtime.precision


def run(args: argparse.Namespace) -> int:
    import torch

    from nimlab.engine.weights import default_cache
    from nimlab.precision.criteria import Thresholds
    from nimlab.precision.validate import render, validate

    torch.set_num_threads(1)  # as the course NIM runs its engines (see the manifest's engine_threads)
    from nimlab.precision.evalset import EVAL_SET

    thresholds = Thresholds(args.max_score_drop, args.min_token_agreement)
    candidate, reference = resolve(args.candidate), resolve(args.reference)
    if args.limit is not None and not 1 <= args.limit <= len(EVAL_SET):
        raise ConfigError(f"--limit {args.limit} is outside 1..{len(EVAL_SET)}", hint="leave it out to use every question")
    report = validate(candidate, reference, cache_dir=args.cache or default_cache(),
                      items=EVAL_SET[: args.limit or len(EVAL_SET)], rounds=max(1, args.rounds), thresholds=thresholds,
                      progress=lambda m: print(f"[precision] {m}", file=sys.stderr, flush=True))
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        print(f"full report: {args.json}")
    return 0 if report.accepted else 3
