"""Grade submissions: intake -> per exercise one sandboxed job -> trusted checks -> SubmissionResult.

Every path returns the same result type with every test of every exercise listed: a missing file, a crash,
a timeout or an unreadable zip scores zero with a learner-visible message; the batch always goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimlab.errors import ServiceError
from nimlab.grader import checks as checklib
from nimlab.grader.intake import SubmissionError, locate, take
from nimlab.grader.manifest import Course, ExerciseSpec, TestSpec
from nimlab.grader.model import ExerciseResult, SubmissionResult, TestResult
from nimlab.grader.sandbox import BIN, Job, Limits, Outcome, Part, run_job, sandbox_mode

READ_CAP = 256 * 1024
_VAR = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


@dataclass(frozen=True)
class Options:
    resources: dict[str, Any] = field(default_factory=dict)  # "course_nims.optimized" -> URL, numbers too
    hide: tuple[str, ...] = ()  # extra paths the sandbox must not see (solutions are always hidden)
    single: str | None = None  # the submission holds only this exercise (its files at the top)


def _subst(obj: Any, resources: dict[str, Any], used: set[str]) -> Any:
    if isinstance(obj, str):
        whole = _VAR.fullmatch(obj)  # "${x}" alone keeps the resource's type (a measured baseline is a number)
        if whole and whole.group(1) in resources and not isinstance(resources[whole.group(1)], str):
            used.add(whole.group(1))
            return resources[whole.group(1)]
        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in resources:
                raise KeyError(f"resource {m.group(1)} is not available")
            used.add(m.group(1))
            return str(resources[m.group(1)])
        return _VAR.sub(repl, obj)
    if isinstance(obj, list):
        return [_subst(v, resources, used) for v in obj]
    if isinstance(obj, dict):
        return {k: _subst(v, resources, used) for k, v in obj.items()}
    return obj


def _call_for(spec: ExerciseSpec, test: TestSpec, resources: dict[str, Any], used: set[str]) -> dict[str, Any] | None:
    call = _subst(test.call, resources, used)
    if call.get("read"):
        return None
    if "command" in call:
        argv = []
        for a in spec.commands[call["command"]]:
            a = a.replace("{entry}", spec.entry)
            if a.startswith("{bin:"):  # the interpreter's bin folder, as the sandbox shows it (it fills BIN in)
                a = f"{BIN}/{a[5:-1]}"
            argv.append(a)
        env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": ".", **call.get("env", {})}
        body: dict[str, Any] = {"argv": argv, "env": env}
    else:
        body = {"function": call["function"], "args": call.get("args", []), "kwargs": call.get("kwargs", {})}
    body["id"] = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return body


def _score(spec: ExerciseSpec, test: TestSpec, value: Any, expect: Any) -> TestResult:
    mk = lambda score, fb, detail="": TestResult(spec.id, test.name, round(score, 4), test.points,  # noqa: E731
                                                 test.visibility, fb, detail)
    try:
        fn = getattr(checklib.load_checks(spec.checks_path), test.check)
        fraction, feedback = fn(value, expect, test)
    except checklib.ShapeError as exc:
        return mk(0.0, f"{exc}")
    except Exception:  # noqa: BLE001 - an answer of an unexpected shape must not stop the batch
        return mk(0.0, "the grader could not read this answer (its shape is not what the statement asks for)",
                  traceback.format_exc(limit=3))
    fraction = min(1.0, max(0.0, float(fraction)))
    return mk(test.points * fraction, feedback)


@dataclass
class _Plan:
    spec: ExerciseSpec
    files: Path | None
    calls: dict[str, dict[str, Any] | None]
    used: set[str]


def _plan(spec: ExerciseSpec, files: Path | None, opts: Options) -> _Plan:
    used: set[str] = set()
    calls = {} if files is None else {t.name: _call_for(spec, t, opts.resources, used) for t in spec.tests}
    for c in calls.values():
        if c is not None:
            c["id"] = f"{spec.id}:{c['id']}"
    return _Plan(spec, files, calls, used)


def _part(plan: _Plan) -> Part | None:
    """The exercise's distinct calls, those any visible test uses first: hidden inputs arrive only after every
    public answer has been given (the sandbox hands calls over one at a time)."""
    vis = {t.name: t.visibility == "visible" for t in plan.spec.tests}
    ordered = sorted((n for n, c in plan.calls.items() if c is not None), key=lambda n: not vis[n])
    unique: dict[str, dict[str, Any]] = {}
    for n in ordered:
        call = plan.calls[n]
        assert call is not None
        unique.setdefault(call["id"], call)
    if plan.files is None or not unique:
        return None
    spec = plan.spec
    return Part(spec.id, plan.files, spec.entry, list(unique.values()), timeout_s=spec.timeout_s,
                call_timeout_s=min(spec.timeout_s / 3, 20.0), memory_mb=spec.memory_mb)


def _result(plan: _Plan, outcome: Outcome | None, opts: Options, seconds: float) -> ExerciseResult:
    spec, files = plan.spec, plan.files
    if files is None:
        msg = f"not submitted: no {spec.id}/{spec.entry} found in the submission"
        return ExerciseResult(spec.id, spec.title, tuple(
            TestResult(spec.id, t.name, 0.0, t.points, t.visibility, "not submitted") for t in spec.tests), msg)
    results = []
    for t in spec.tests:
        call = plan.calls[t.name]
        expect = _subst(t.expect, opts.resources, set())
        mk = lambda fb, detail="", t=t: TestResult(spec.id, t.name, 0.0, t.points, t.visibility, fb, detail)  # noqa: E731
        if call is None:
            text = (files / spec.entry).read_bytes()[:READ_CAP].decode(errors="replace")
            results.append(_score(spec, t, text, expect))
            continue
        assert outcome is not None
        rep = outcome.reports.get(call["id"])
        if rep is None:
            results.append(mk(outcome.stop_reason(spec.id)))
        elif not rep.get("ok"):
            trace = rep.get("trace") or ""
            results.append(mk(str(rep.get("error", "failed")) + (f"\n{trace}" if trace else "")))
        else:
            results.append(_score(spec, t, rep.get("value"), expect))
    message = ""
    if outcome is not None and _part(plan) is not None:
        st = outcome.parts.get(spec.id)
        if st is None or st["status"] != "exit" or st.get("returncode") != 0 or any(
                c is not None and c["id"] not in outcome.reports for c in plan.calls.values()):
            message = outcome.stop_reason(spec.id)
    out = outcome.part_output(spec.id) if outcome else ""
    return ExerciseResult(spec.id, spec.title, tuple(results), message, out, round(seconds, 3))


def grade_exercises(plans: list[_Plan], opts: Options, hide: tuple[str, ...]) -> list[ExerciseResult]:
    """One sandbox for all the exercises of one submission (a child process each), then trusted scoring."""
    started = time.monotonic()
    parts = tuple(p for p in (_part(plan) for plan in plans) if p is not None)
    outcome = None
    if parts:
        used = {k for plan in plans if _part(plan) is not None for k in plan.used}
        services = tuple(sorted({v for k in used if isinstance(v := opts.resources[k], str) and v.startswith("http")}))
        outcome = run_job(Job(parts, Limits(), hide, services))
    seconds = time.monotonic() - started
    return [_result(plan, outcome, opts, seconds) for plan in plans]


def grade_exercise(spec: ExerciseSpec, files: Path | None, opts: Options, hide: tuple[str, ...]) -> ExerciseResult:
    return grade_exercises([_plan(spec, files, opts)], opts, hide)[0]


def _zero(spec: ExerciseSpec, message: str) -> ExerciseResult:
    return ExerciseResult(spec.id, spec.title, tuple(
        TestResult(spec.id, t.name, 0.0, t.points, t.visibility, message) for t in spec.tests), message)


def grade_submission(path: Path, course: Course, opts: Options = Options()) -> SubmissionResult:
    started = time.monotonic()
    name = path.name
    hide = tuple(dict.fromkeys((str(course.solutions_root.resolve()), *opts.hide)))
    try:
        root = take(path)
    except SubmissionError as exc:
        return SubmissionResult(name, tuple(_zero(s, str(exc)) for s in course.exercises),
                                round(time.monotonic() - started, 3), str(exc))
    try:
        errors: list[str] = []
        plans: list[_Plan] = []
        failed: dict[str, ExerciseResult] = {}
        for spec in course.exercises:
            try:
                plans.append(_plan(spec, locate(root, spec.id, spec.entry, single=opts.single == spec.id), opts))
            except Exception as exc:  # noqa: BLE001 - the grader's own failure on one exercise
                errors.append(f"{spec.id}: {traceback.format_exc(limit=5)}")
                failed[spec.id] = _zero(spec, f"the autograder failed on this exercise ({type(exc).__name__}); "
                                              "your instructor has the details")
        try:
            graded = {r.exercise: r for r in grade_exercises(plans, opts, hide)}
        except Exception as exc:  # noqa: BLE001 - the sandbox itself failed: every exercise gets the message
            errors.append(traceback.format_exc(limit=5))
            msg = f"the autograder failed on this submission ({type(exc).__name__}); your instructor has the details"
            graded = {p.spec.id: _zero(p.spec, msg) for p in plans}
        exercises = tuple(failed.get(s.id) or graded[s.id] for s in course.exercises)
        return SubmissionResult(name, exercises, round(time.monotonic() - started, 3), errors=tuple(errors))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def submissions_in(folder: Path) -> list[Path]:
    """Each folder or .zip directly inside `folder` is one submission."""
    return sorted(p for p in folder.iterdir() if p.is_dir() or p.suffix == ".zip")


def grade_batch(paths: Iterable[Path], course: Course, opts: Options = Options(), workers: int = 2,
                progress: Callable[[int, int, SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade many submissions in parallel (each one's jobs are separate processes); results in input order."""
    paths = list(paths)
    if len(paths) > 1 and os.geteuid() != 0 and sandbox_mode() == "weak":
        raise ServiceError("the weak sandbox runs a submission as your own user, so it grades one at a time",
                           hint="grade a batch as root, or where user namespaces or bubblewrap work")
    results: dict[int, SubmissionResult] = {}
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(grade_submission, p, course, opts): i for i, p in enumerate(paths)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001
                res = SubmissionResult(paths[i].name, tuple(_zero(s, "the autograder failed on this submission")
                                                           for s in course.exercises), errors=(repr(exc),))
            with lock:
                results[i] = res
                if progress:
                    progress(len(results), len(paths), res)
    return [results[i] for i in range(len(paths))]
