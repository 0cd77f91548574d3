"""Packages: the learner bundle (exercises + public tests, checked by content to hold nothing hidden) and the
Gradescope autograder zip (setup.sh + run_autograder at the root, the course under source/)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import yaml

from nimlab.errors import ConfigError
from nimlab.grader.manifest import Course

BUNDLE_README = """# nimlab exercises

Each folder is one exercise: README.md (the statement), the file you edit, and public tests.
Run the public tests from this folder: `python -m pytest -q` (exercise 4 needs a running course NIM; see its
README). The grader also runs hidden tests: passing every public test does not mean full marks.
Submit this folder (or a zip of it); the grader finds each exercise by its folder name.
"""

TEMPLATES = Path(__file__).resolve().parent / "gradescope"  # setup.sh and run_autograder, tested in a container
# What setup.sh and run_autograder read from the source folder; a missing one stops Gradescope's image build.
SHIPPED = ("nimlab", "exercises", "solutions", "requirements.txt", "requirements-course.txt", "pyproject.toml",
           "README.md")


def _leaves(obj: object) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _leaves(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _leaves(v)]
    return []


def _secrets(course: Course) -> tuple[dict[bytes, str], list[str], list[object]]:
    """What must never reach learners: every solution file's content, every long string of a hidden test's
    inputs or expected values (that no public test shares), and every hidden test's call itself."""
    contents = {}
    for p in course.solutions_root.rglob("*"):
        if p.is_file() and "__pycache__" not in p.parts and p.read_bytes().strip():
            contents[p.read_bytes()] = str(p.relative_to(course.solutions_root))
    hidden = [t for ex in course.exercises for t in ex.tests if t.visibility != "visible"]
    public = {s for ex in course.exercises for t in ex.tests if t.visibility == "visible"
              for s in _leaves([t.call, t.expect])}
    strings = sorted({s for t in hidden for s in _leaves([t.call, t.expect]) if len(s) >= 24 and " " in s and s not in public})
    calls = [t.call for t in hidden if not t.call.get("read") and "command" not in t.call]
    return contents, strings, calls


def verify_bundle(data: bytes, course: Course) -> list[str]:
    """Problems in a learner bundle (empty when clean), checked by content: a file equal to a solution file,
    a hidden test's input or expected string, a YAML test whose call equals a hidden test's, a solutions/ path."""
    contents, strings, calls = _secrets(course)
    problems = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            body = zf.read(info)
            if "solutions" in Path(info.filename).parts:
                problems.append(f"{info.filename}: a path under solutions/")
            if body in contents:
                problems.append(f"{info.filename}: same content as solutions/{contents[body]}")
            text = body.decode(errors="replace")
            problems += [f"{info.filename}: holds a hidden test's data ({s[:40]!r}...)" for s in strings if s in text]
            if info.filename.endswith((".yaml", ".yml", ".json")):
                try:
                    loaded = yaml.safe_load(text)
                except yaml.YAMLError:
                    continue
                found = [c for c in _calls_in(loaded) if c in calls]
                problems += [f"{info.filename}: holds a hidden test's call" for _ in found]
    return problems


def _calls_in(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return ([obj["call"]] if "call" in obj else []) + [c for v in obj.values() for c in _calls_in(v)]
    if isinstance(obj, list):
        return [c for v in obj for c in _calls_in(v)]
    return []


def learner_bundle(course: Course) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("nimlab-exercises/README.md", BUNDLE_README)
        for ex in course.exercises:
            for p in sorted(ex.exercise_dir.rglob("*")):
                if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."):
                    zf.write(p, f"nimlab-exercises/{ex.id}/{p.relative_to(ex.exercise_dir)}")
    data = buf.getvalue()
    problems = verify_bundle(data, course)
    if problems:
        raise ConfigError("the learner bundle would leak: " + "; ".join(problems[:5]),
                          hint="move the offending file out of exercises/")
    return data


def _add_tree(zf: zipfile.ZipFile, root: Path, rel: str, prefix: str) -> None:
    base = root / rel
    files = [base] if base.is_file() else sorted(base.rglob("*"))
    for p in files:
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc",):
            zf.write(p, f"{prefix}{p.relative_to(root)}")


def gradescope_script(name: str, course: Course, all_ids: list[str] | None = None) -> str:
    """One of the zip's two scripts; run_autograder names the exercises when the course is a subset (`-e`),
    so an assignment for exercises 1 and 2 never starts exercise 4's NIMs."""
    path = TEMPLATES / name
    if not path.is_file():
        raise ConfigError(f"the Gradescope template {path} is missing",
                          hint="export from a checkout of the course (pip install -e .), where nimlab/grader/gradescope/ exists")
    body = path.read_text()
    ids = [ex.id for ex in course.exercises]
    subset = all_ids is not None and set(ids) != set(all_ids)
    return body.replace("@EXERCISES@", " ".join(f"-e {i}" for i in ids) if subset else "").replace(" \n", "\n")


def gradescope_zip(course: Course, repo: Path) -> bytes:
    """An autograder zip for Gradescope: setup.sh and run_autograder at the root, the course beside them
    (only what the two scripts read: no docs, labs or scripts)."""
    all_ids = sorted(p.parent.name for p in course.solutions_root.glob("*/exercise.yaml"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, gradescope_script(name, course, all_ids))
        for rel in SHIPPED:
            if (repo / rel).exists():
                _add_tree(zf, repo, rel, "")
    return buf.getvalue()
