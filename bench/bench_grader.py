"""Benchmark the autograder: N submissions of all six exercises graded in one batch on this machine.

    .venv/bin/python bench/bench_grader.py [--submissions 100] [--workers CPUs+1] [--nim-optimized URL --nim-generic URL]
                                           [-e 1 -e 2 ...]   (only these exercises; without 4, no NIM is started)

Submissions are a mix (reference, untouched starter, plausible wrong answers, crashing code), so every path of
the grader is exercised. Exercise 4 runs live against one shared course NIM pair, started here (start-up is
reported apart from grading) unless URLs are given. Prints wall time and per-submission figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nimlab.grader.grade import Options, grade_batch  # noqa: E402
from nimlab.grader.manifest import load_course  # noqa: E402
from nimlab.grader.resources import provide  # noqa: E402


def variants(course) -> list[dict[str, str]]:
    """Four kinds of submission; each maps exercise folder/entry -> file text."""
    ref = {f"{e.id}/{e.entry}": (e.solution_dir / e.entry).read_text() for e in course.exercises}
    starter = {f"{e.id}/{e.entry}": (e.exercise_dir / e.entry).read_text() for e in course.exercises}
    wrong, crashing = dict(ref), dict(ref)
    edits = [(wrong, "01-buy-or-build/answer.py", 'if s["licence_cost_per_year"] > s["engineering_cost_saved_per_year"]:',
              "if False:"),
             (wrong, "02-cost-model/answer.py", ' + p["rebuild_weeks"] * p["versions_per_year"] * years', ""),
             (wrong, "06-triton-config/config.pbtxt", "count: 2", "count: 1")]
    for kind, key, old, new in edits:
        if key in kind:
            kind[key] = kind[key].replace(old, new)
    for key, text in (("03-diagnose-startup/answer.py", "import os\nos._exit(3)\n"),
                      ("01-buy-or-build/answer.py", "def classify(s):\n    return s['no such key']\n")):
        if key in crashing:
            crashing[key] = text
    return [ref, starter, wrong, crashing]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--submissions", type=int, default=100)
    ap.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1)
    ap.add_argument("--nim-optimized")
    ap.add_argument("--nim-generic")
    ap.add_argument("-e", "--exercise", action="append", help="grade only this exercise (repeatable; default all)")
    args = ap.parse_args()
    course = load_course(ROOT, args.exercise)
    tmp = Path(tempfile.mkdtemp(prefix="nimlab-bench-"))
    try:
        kinds = variants(course)
        subs = []
        for i in range(args.submissions):
            root = tmp / f"sub-{i:03d}"
            for rel, text in kinds[i % len(kinds)].items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text)
            subs.append(root)
        given = {k: v for k, v in (("course_nim_pair.optimized", args.nim_optimized),
                                   ("course_nim_pair.generic", args.nim_generic)) if v}
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        needs = {r for e in course.exercises for r in e.resources}
        with provide(needs, given) as resources:
            t_ready = time.monotonic()
            done = 0

            def progress(n: int, total: int, res) -> None:
                nonlocal done
                done = n
                if n % 10 == 0 or n == total:
                    print(f"  [{n}/{total}] {time.monotonic() - t_ready:6.1f} s", file=sys.stderr, flush=True)

            results = grade_batch(subs, course, Options(resources=resources), workers=args.workers,
                                  progress=progress)
            wall = time.monotonic() - t_ready
        per = sorted(r.seconds for r in results)
        scores = {}
        for i, r in enumerate(results):
            scores.setdefault(i % len(kinds), []).append(r.score)
        names = ["reference", "starter", "wrong", "crashing"]
        if needs:
            print(f"live services ready in {t_ready - t0:.1f} s (not counted below)")
        from nimlab.grader.sandbox import sandbox_mode

        print(f"sandbox: {sandbox_mode()}; exercises: {', '.join(e.id for e in course.exercises)}")
        print(f"graded {len(results)} submissions x {len(course.exercises)} exercises "
              f"({len(results) * len(course.exercises)} exercise gradings; one sandbox per submission) "
              f"with {args.workers} workers on {os.cpu_count()} CPUs; load average before: {load0:.1f}")
        print(f"wall time: {wall:.1f} s  ({wall / len(results) * 1000:.0f} ms per submission, "
              f"{len(results) / wall:.2f} submissions/s)")
        print(f"per-submission latency: median {statistics.median(per):.2f} s, "
              f"p95 {per[int(0.95 * (len(per) - 1))]:.2f} s, max {per[-1]:.2f} s")
        for k, v in scores.items():
            print(f"  {names[k]:9} x{len(v):3}: score {min(v):g}..{max(v):g} / {results[k].max_score:g}")
        print("target: under 120 s ->", "met" if wall < 120 else "MISSED")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
