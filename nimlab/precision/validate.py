"""Validate a candidate precision against the fp32 reference, the way an FP8 profile must be validated.

Four numbers decide it, all from one run with both models loaded side by side:
- token agreement: feed the reference's greedy reply to the candidate and count the positions where the
  candidate's top token is the same (teacher forcing, so one early difference does not hide the rest);
- identical replies: how many free-running greedy replies match the reference token for token;
- task score: evaluation-set answers each gets right, with the items only one of them gets right
  (an exact McNemar test says whether a difference is more than the set's noise);
- throughput: tokens per second of each at the same concurrency, in alternating rounds.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from nimlab.engine import Engine, LoadedModel, SamplingParams, load_model
from nimlab.engine.chat import encode_question
from nimlab.engine.weights import default_cache
from nimlab.precision.criteria import Thresholds
from nimlab.precision.evalset import EVAL_SET, Item


@dataclass
class Side:
    precision: str
    replies: list[str]
    correct: list[bool]
    tokens_per_s: float
    rounds_tokens_per_s: list[float]

    @property
    def score(self) -> float:
        return sum(self.correct) / len(self.correct)


@dataclass
class Report:
    reference: Side
    candidate: Side
    prompts: list[str]
    token_agreement: float
    identical: int
    reference_only: int  # items only the reference answers right
    candidate_only: int
    mcnemar_p: float
    thresholds: Thresholds
    reasons: list[str] = field(default_factory=list)

    @property
    def score_drop(self) -> float:
        return self.reference.score - self.candidate.score

    @property
    def speedup(self) -> float:
        return self.candidate.tokens_per_s / self.reference.tokens_per_s

    @property
    def accepted(self) -> bool:
        return not self.reasons

    def judged(self, thresholds: Thresholds) -> Report:
        """The same measurements under other thresholds (the numbers stay; only the verdict may change)."""
        reasons = []
        if self.score_drop > thresholds.max_score_drop + 1e-9:
            reasons.append(f"task score drops {100 * self.score_drop:.1f} points "
                           f"(allowed {100 * thresholds.max_score_drop:.1f})")
        if self.token_agreement < thresholds.min_token_agreement:
            reasons.append(f"token agreement {100 * self.token_agreement:.1f} % is below "
                           f"{100 * thresholds.min_token_agreement:.1f} %")
        return replace(self, thresholds=thresholds, reasons=reasons)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(score_drop=self.score_drop, speedup=self.speedup, accepted=self.accepted)
        return d


Progress = Callable[[str], None]


def validate(candidate: str = "int8", reference: str = "fp32", *, cache_dir: Path | None = None,
             items: tuple[Item, ...] = EVAL_SET, max_tokens: int = 32, concurrency: int = 8, rounds: int = 2,
             thresholds: Thresholds | None = None, progress: Progress = lambda _: None) -> Report:
    """Load both precisions, answer the set with each, measure speed, compare. Returns the full report."""
    thresholds = thresholds or Thresholds()
    progress(f"loading {reference} (reference) and {candidate} (candidate)")
    models = {name: load_model(name, cache_dir=cache_dir or default_cache()) for name in (reference, candidate)}
    # the native engine, as the NIM's native profiles of each precision run it (fused step where it applies)
    engines = {name: Engine(m, max_num_seqs=concurrency, kv_capacity_tokens=16384, preallocated_kv=True)
               for name, m in models.items()}
    for e in engines.values():
        e.start()
    try:
        tok = models[reference].tokenizer
        prompts = [encode_question(tok, it.prompt) for it in items]
        greedy = SamplingParams(max_tokens=max_tokens, temperature=0)
        answers = {}
        for name, engine in engines.items():
            progress(f"answering {len(items)} questions with {name}")
            answers[name] = engine.generate_many(prompts, greedy)
        progress("teacher-forced token agreement")
        agree, total = _agreement(models[candidate], prompts, [list(c.token_ids) for c in answers[reference]])
        speed: dict[str, list[float]] = {name: [] for name in engines}
        load = [prompts[i % len(prompts)] for i in range(2 * concurrency)]
        fixed = SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True)
        for r in range(rounds):
            for name in (engines if r % 2 == 0 else list(engines)[::-1]):
                progress(f"throughput round {r + 1}/{rounds}: {name}")
                t0 = time.monotonic()
                done = engines[name].generate_many(load, fixed)
                speed[name].append(sum(len(c.token_ids) for c in done) / (time.monotonic() - t0))
    finally:
        for e in engines.values():
            e.stop()

    def side(name: str) -> Side:
        replies = [c.text for c in answers[name]]
        return Side(name, replies, [it.scores(r) for it, r in zip(items, replies, strict=True)],
                    statistics.median(speed[name]), [round(s, 2) for s in speed[name]])

    ref, cand = side(reference), side(candidate)
    ref_only = sum(a and not b for a, b in zip(ref.correct, cand.correct, strict=True))
    cand_only = sum(b and not a for a, b in zip(ref.correct, cand.correct, strict=True))
    identical = sum(a.token_ids == b.token_ids for a, b in zip(answers[reference], answers[candidate], strict=True))
    report = Report(ref, cand, [it.prompt for it in items], agree / max(1, total), identical, ref_only, cand_only,
                    mcnemar_exact(ref_only, cand_only), thresholds)
    return report.judged(thresholds)


def _agreement(candidate: LoadedModel, prompts: list[list[int]], replies: list[list[int]]) -> tuple[int, int]:
    """Positions where the candidate's top token equals the reference's token, given the reference's prefix."""
    import torch

    agree = total = 0
    with torch.inference_mode():
        for prompt, reply in zip(prompts, replies, strict=True):
            if not reply:
                continue
            ids = torch.tensor([prompt + reply[:-1]])
            logits = candidate.model(input_ids=ids).logits[0, len(prompt) - 1:]
            top = logits.argmax(-1).tolist()
            agree += sum(int(a == b) for a, b in zip(top, reply, strict=True))
            total += len(reply)
    return agree, total


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b vs c discordant pairs (a binomial test at p = 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def render(report: Report) -> str:
    r, c = report.reference, report.candidate
    n = len(report.prompts)
    lines = [
        f"{'':<26}{r.precision + ' (reference)':>18}{c.precision + ' (candidate)':>18}",
        f"{'task score':<26}{f'{sum(r.correct)}/{n} ({100 * r.score:.0f} %)':>18}"
        f"{f'{sum(c.correct)}/{n} ({100 * c.score:.0f} %)':>18}",
        f"{'throughput (tok/s)':<26}{r.tokens_per_s:>18.1f}{c.tokens_per_s:>18.1f}",
        "",
        f"speed-up: {report.speedup:.2f}x    score drop: {100 * report.score_drop:+.1f} points "
        f"(right only with {r.precision}: {report.reference_only}, only with {c.precision}: {report.candidate_only}; "
        f"McNemar p = {report.mcnemar_p:.2f})",
        f"token agreement (teacher-forced): {100 * report.token_agreement:.1f} %    "
        f"identical replies: {report.identical}/{n}",
    ]
    if report.accepted:
        lines.append(f"verdict: ACCEPT {c.precision} within the thresholds (score drop <= "
                     f"{100 * report.thresholds.max_score_drop:.0f} points, agreement >= "
                     f"{100 * report.thresholds.min_token_agreement:.0f} %)")
    else:
        lines.append(f"verdict: REJECT {c.precision}: " + "; ".join(report.reasons))
    if report.reference_only != report.candidate_only and report.mcnemar_p > 0.05:
        lines.append(f"note: with {n} items the score difference, either way, is within noise "
                     f"(p = {report.mcnemar_p:.2f}); a larger evaluation set would be needed to call it")
    return "\n".join(lines)
