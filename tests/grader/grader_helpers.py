"""Helpers for the grader tests: the course, submissions built on the fly, quick limits."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from nimlab.grader.manifest import Course, load_course

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def course(*only: str, timeout_s: float | None = None) -> Course:
    c = load_course(ROOT, list(only) or None)
    if timeout_s is not None:
        c = dataclasses.replace(c, exercises=tuple(dataclasses.replace(e, timeout_s=timeout_s) for e in c.exercises))
    return c


def submission(tmp: Path, name: str, files: dict[str, str | Path]) -> Path:
    """A submission folder: {"01-buy-or-build/answer.py": text or a path to copy}."""
    root = tmp / name
    for rel, body in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, Path):
            shutil.copy(body, target)
        else:
            target.write_text(body)
    return root


def reference(exercise_id: str) -> str:
    ex = load_course(ROOT, [exercise_id]).exercises[0]
    return (ex.solution_dir / ex.entry).read_text()


def by_name(result, exercise_id: str):
    return {t.name: t for e in result.exercises if e.exercise == exercise_id for t in e.tests}
