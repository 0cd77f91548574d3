"""Exercise manifests (`solutions/NN-name/exercise.yaml`): what to call, how many points, who sees what.

The grader knows an exercise only through this file:

    id: 01-buy-or-build              # folder name under exercises/ and solutions/
    title: Buy or build
    entry: answer.py                 # the file the learner edits (exercises/<id>/<entry>)
    run: sandbox                     # sandbox (call the learner's code) or none (read the file only)
    timeout_s: 30                    # wall clock for the whole exercise in the sandbox
    memory_mb: 1024                  # address-space limit per process in the sandbox
    checks: checks.py                # trusted check functions, run by the grader outside the sandbox
    commands: {name: [argv...]}      # programs the sandbox may run on the learner's file ({entry}, {bin:NAME})
    resources: [course_nims]         # live services the grader starts and bridges into the sandbox
    optional_resources: [triton_live]  # live checks run only with `nimlab grade --live triton_live`
    test_sets:                       # files of tests; public ones ship to learners
      - {file: public_cases.yaml, where: exercise, visibility: visible}
      - {file: hidden_cases.yaml, where: solution, visibility: after_published}
      - {file: live_cases.yaml, where: solution, visibility: visible, requires: triton_live}

A test file is a YAML list of {name, points, call, check, expect}; `call` is {function, args} (run the learner's
function), {command, env} (run a declared command) or {read: true} (no code runs; the check gets the file text).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nimlab.errors import ConfigError
from nimlab.grader.model import VISIBILITIES


@dataclass(frozen=True)
class TestSpec:
    name: str
    points: float
    call: dict[str, Any]
    check: str
    expect: Any
    visibility: str = "visible"
    requires: str = ""  # an optional live resource; the test is graded only in runs that provide it


@dataclass(frozen=True)
class ExerciseSpec:
    id: str
    title: str
    entry: str
    run: str
    timeout_s: float
    memory_mb: int
    checks_path: Path
    commands: dict[str, list[str]]
    resources: tuple[str, ...]  # always needed (started by the grader)
    optional_resources: tuple[str, ...]  # graded only when asked for (`nimlab grade --live NAME`)
    tests: tuple[TestSpec, ...]
    exercise_dir: Path
    solution_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}", hint="fix the exercise manifest") from exc


def load_exercise(solution_dir: Path, exercises_root: Path) -> ExerciseSpec:
    path = solution_dir / "exercise.yaml"
    raw = _load_yaml(path)
    ex_id = raw["id"]
    exercise_dir = exercises_root / ex_id
    tests: list[TestSpec] = []
    for ts in raw.get("test_sets", []):
        base = exercise_dir if ts.get("where", "solution") == "exercise" else solution_dir
        visibility = ts.get("visibility", "visible")
        for t in _load_yaml(base / ts["file"]) or []:
            vis = t.get("visibility", visibility)
            if vis not in VISIBILITIES:
                raise ConfigError(f"{base / ts['file']}: test {t.get('name')!r} has visibility {vis!r}",
                                  hint=f"use one of {', '.join(VISIBILITIES)}")
            tests.append(TestSpec(t["name"], float(t["points"]), t.get("call", {"read": True}), t["check"],
                                  t.get("expect"), vis, ts.get("requires", "")))
    names = [t.name for t in tests]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: test names repeat", hint="give every test a unique name")
    return ExerciseSpec(
        id=ex_id, title=raw.get("title", ex_id), entry=raw["entry"], run=raw.get("run", "sandbox"),
        timeout_s=float(raw.get("timeout_s", 30)), memory_mb=int(raw.get("memory_mb", 1024)),
        checks_path=solution_dir / raw.get("checks", "checks.py"), commands=raw.get("commands", {}),
        resources=tuple(raw.get("resources", [])), optional_resources=tuple(raw.get("optional_resources", [])),
        tests=tuple(tests), exercise_dir=exercise_dir,
        solution_dir=solution_dir, extra=raw.get("extra", {}),
    )


@dataclass(frozen=True)
class Course:
    exercises_root: Path
    solutions_root: Path
    exercises: tuple[ExerciseSpec, ...]

    def with_resources(self, available: set[str]) -> Course:
        """This course without the tests whose optional live resource is not available in this run."""
        exs = tuple(dataclasses.replace(e, tests=tuple(t for t in e.tests if not t.requires or t.requires in available))
                    for e in self.exercises)
        return Course(self.exercises_root, self.solutions_root, exs)

    def find(self, key: str) -> ExerciseSpec:
        for ex in self.exercises:
            if ex.id == key or ex.id.split("-", 1)[0] == key.zfill(2):
                return ex
        raise ConfigError(f"no exercise {key!r}", hint="ids: " + ", ".join(e.id for e in self.exercises))


def load_course(root: Path, only: list[str] | None = None, live: set[str] | frozenset[str] = frozenset()) -> Course:
    """All exercises under root/solutions (each with an exercise.yaml), in name order; tests that need an
    optional live resource are kept only when `live` names it."""
    solutions_root, exercises_root = root / "solutions", root / "exercises"
    dirs = sorted(p.parent for p in solutions_root.glob("*/exercise.yaml"))
    if not dirs:
        raise ConfigError(f"no exercise manifests under {solutions_root}",
                          hint="grade from the repository root or pass --course")
    course = Course(exercises_root, solutions_root, tuple(load_exercise(d, exercises_root) for d in dirs))
    if only:
        picked: dict[str, ExerciseSpec] = {}
        for k in only:  # `-e 1 -e 01-buy-or-build` names one exercise once
            ex = course.find(k)
            picked.setdefault(ex.id, ex)
        course = Course(exercises_root, solutions_root, tuple(picked.values()))
    return course.with_resources(set(live))
