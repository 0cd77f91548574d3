"""`nimlab lora train | check | compare`: make an adapter, check a folder of adapters, see the effect."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from nimlab.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction, func: Callable[[argparse.Namespace], int]) -> None:
    from nimlab.lora.settings import TrainConfig
    from nimlab.lora.tasks import TASKS

    d = TrainConfig()
    lora = sub.add_parser("lora", help="LoRA adapters for the course NIM: train, check, compare")
    verbs = lora.add_subparsers(dest="lora_command", required=True, metavar="ACTION")
    p = verbs.add_parser("train", help="train a small adapter on CPU (peft), in the folder layout NIM serves")
    p.add_argument("--out", required=True, type=Path, help="adapter folder to write; its name is the model name")
    p.add_argument("--task", default=d.task, choices=sorted(TASKS), help=f"built-in task (default {d.task})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--rank", type=int, default=d.rank, help=f"LoRA rank r (default {d.rank})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--force", action="store_true", help="train again even if the folder has these settings")
    p.add_argument("--cache", type=Path, default=None, help="model workspace cache (default NIM_CACHE_PATH)")
    p.set_defaults(func=func)
    p = verbs.add_parser("check", help="check every adapter under a NIM_PEFT_SOURCE folder, as the NIM will")
    p.add_argument("source", type=Path, help="the folder holding one sub-folder per adapter")
    p.add_argument("--max-rank", type=int, default=32, help="largest rank accepted (NIM_MAX_LORA_RANK; default 32)")
    p.set_defaults(func=func)
    p = verbs.add_parser("compare", help="held-out prompts with and without an adapter, in one batch")
    p.add_argument("adapter", type=Path, help="one adapter folder")
    p.add_argument("--task", default=d.task, choices=sorted(TASKS), help="whose rule and held-out prompts to use")
    p.add_argument("--cache", type=Path, default=None, help="model workspace cache (default NIM_CACHE_PATH)")
    p.set_defaults(func=func)


def run(args: argparse.Namespace) -> int:
    return {"train": _train, "check": _check, "compare": _compare}[args.lora_command](args)


def _cache(args: argparse.Namespace) -> Path:
    from nimlab.engine.weights import default_cache

    return args.cache or default_cache()


def _train(args: argparse.Namespace) -> int:
    import torch

    from nimlab.lora.settings import TrainConfig
    from nimlab.lora.train import train

    torch.set_num_threads(max(1, min(4, len(os.sched_getaffinity(0)))))
    config = TrainConfig(task=args.task, steps=args.steps, rank=args.rank, seed=args.seed)
    print(f"[lora] task {config.task!r}, {config.steps} steps, rank {config.rank}, writing {args.out}", flush=True)

    def show(step: int, steps: int, loss: float, elapsed: float) -> None:
        if step == 1 or step == steps or step % 5 == 0:
            print(f"[lora] step {step:>3}/{steps}  loss {loss:6.3f}  {elapsed:5.0f} s", flush=True)

    result = train(config, args.out, cache_dir=_cache(args), progress=show, reuse=not args.force)
    print(f"[lora] {result.summary()}")
    print(f"[lora] next: nimlab lora compare {args.out}   (or serve it: NIM_PEFT_SOURCE={args.out.parent})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from nimlab.lora.adapters import SMOLLM2_135M, scan

    if not args.source.is_dir():
        raise ConfigError(f"{args.source} is not a directory", hint="pass the folder you set NIM_PEFT_SOURCE to")
    found = scan(args.source, SMOLLM2_135M, args.max_rank)
    for a in found.adapters:
        print(f"ok    {a.name:<24} rank {a.rank}, alpha {a.alpha:g}, modules {','.join(a.targets)}")
    for p in found.problems:
        print(f"FAIL  {p.name:<24} {p.message}\n      next: {p.hint}")
    print(f"{len(found.adapters)} adapter(s) would load, {len(found.problems)} would be refused")
    return 1 if found.problems else 0


def _compare(args: argparse.Namespace) -> int:
    import torch

    from nimlab.lora.adapters import SMOLLM2_135M, check
    from nimlab.lora.effect import measure_folder
    from nimlab.lora.tasks import TASKS

    check(args.adapter, SMOLLM2_135M, 256)  # a broken folder says why before the model loads
    torch.set_num_threads(1)
    task = TASKS[args.task]
    effect = measure_folder(args.adapter, task, cache_dir=_cache(args))
    for prompt, tuned, base in effect.rows():
        print(f"Q: {prompt}\n  {args.adapter.name:>8}: {tuned.strip()}\n  {'base':>8}: {base.strip()}")
    n = len(effect.prompts)
    print(f"rule: {task.rule}\nfollowed with the adapter: {effect.follows_with}/{n}; by the base: {effect.follows_base}/{n}")
    return 0 if effect.follows_with > effect.follows_base else 1
