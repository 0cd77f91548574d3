"""`nimlab grade` and `nimlab grade-export`: option wiring only; the work is in grade, resources, reporters, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from nimlab.errors import ConfigError
from nimlab.grader import export
from nimlab.grader.grade import Options, grade_batch, submissions_in
from nimlab.grader.intake import locate
from nimlab.grader.manifest import Course, load_course
from nimlab.grader.model import SubmissionResult
from nimlab.grader.reporters import gradebook_csv, gradescope_results, junit_xml, summary
from nimlab.grader.reporters.plot import gradebook_plot
from nimlab.grader.reporters.text import safe
from nimlab.grader.resources import provide


def course_root(explicit: str | None) -> Path:
    """--course, else the first folder upward from here with solutions/*/exercise.yaml, else the repository."""
    if explicit:
        return Path(explicit).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if any((d / "solutions").glob("*/exercise.yaml")):
            return d
    return Path(__file__).resolve().parents[2]


def _submissions(paths: list[Path], course: Course, single: bool) -> list[Path]:
    """Several paths: one submission each. One folder: a submission if any exercise is found in it, else a
    folder of submissions (each folder or zip inside)."""
    if len(paths) > 1 or single or not paths[0].is_dir():
        return paths
    root = paths[0]
    only = course.exercises[0].id if len(course.exercises) == 1 else None
    if any(locate(root, ex.id, ex.entry, single=ex.id == only) for ex in course.exercises):
        return [root]
    return submissions_in(root) or [root]


def run_grade(args: argparse.Namespace) -> int:
    root = course_root(args.course)
    course = load_course(root, args.exercise, live=set(args.live))
    for p in args.paths:
        if not p.exists():
            raise ConfigError(f"no such submission: {p}")
    subs = _submissions(args.paths, course, args.single_submission)
    if args.gradescope and len(subs) != 1:
        raise ConfigError("--gradescope writes one submission's results", hint="use --json-dir for a batch")
    single = course.exercises[0].id if len(course.exercises) == 1 else None
    given = {k: v for k, v in (("course_nim_pair.optimized", args.nim_optimized),
                               ("course_nim_pair.generic", args.nim_generic)) if v}
    needs = {r for ex in course.exercises for r in ex.resources}
    needs |= {r for ex in course.exercises for r in ex.optional_resources if r in args.live}
    batch = len(subs) > 1
    bar = tqdm(total=len(subs), unit="submission", file=sys.stderr, disable=not batch, dynamic_ncols=True)

    def progress(done: int, total: int, res: SubmissionResult) -> None:
        bar.set_postfix_str(f"{safe(res.submission, False)[:30]} {res.score:g}/{res.max_score:g}", refresh=False)
        bar.update(1)

    with provide(needs, given) as resources:
        opts = Options(resources=resources, single=single)
        try:
            results = grade_batch(subs, course, opts, workers=args.workers, progress=progress)
        finally:
            bar.close()
    for res in results:
        print(summary(res, reveal_hidden=args.reveal_hidden, verbose=not args.quiet and not batch))
    if args.gradescope:
        args.gradescope.parent.mkdir(parents=True, exist_ok=True)
        args.gradescope.write_text(json.dumps(gradescope_results(results[0]), indent=2), encoding="utf-8")
    if args.json_dir:
        args.json_dir.mkdir(parents=True, exist_ok=True)
        for res in results:
            name = safe(res.submission, False).replace("/", "_")
            (args.json_dir / f"{name}.json").write_text(json.dumps(gradescope_results(res), indent=2),
                                                         encoding="utf-8")
    if args.junit:
        args.junit.write_text(junit_xml(results, reveal_hidden=args.reveal_hidden), encoding="utf-8")
    if args.csv:
        args.csv.write_text(gradebook_csv(results), encoding="utf-8")
        if batch:
            print(f"plot: {gradebook_plot(results, args.csv.with_suffix('.png'))}", file=sys.stderr)
    for res in results:
        for err in res.errors:
            print(f"[instructor] {safe(res.submission, False)}: {safe(err)}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    root = course_root(args.course)
    course = load_course(root, args.exercise if args.what == "gradescope" else None)
    data = export.learner_bundle(course) if args.what == "bundle" else export.gradescope_zip(course, root)
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data) / 1024:.0f} KiB)")
    return 0
