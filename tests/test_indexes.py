"""The hand-kept indexes list every lab and exercise, so a new one cannot ship invisible (no services needed).

A lab notebook must appear in labs/README.md, docs/labs/index.md and mkdocs.yml's nav; an exercise folder in
docs/exercises/index.md and the nav; every solutions/ folder needs its exercises/ twin. The checker runs on the
repository and, to prove it can fail, on a temporary copy with one entry taken out.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


class _NavLoader(yaml.SafeLoader):
    """SafeLoader that reads mkdocs.yml's `!!python/name:` tags as None instead of failing on them."""


_NavLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def _nav_pages(node: Any) -> set[str]:
    """Every page path in a nav tree (strings at the leaves, titles as mapping keys)."""
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return {p for v in node.values() for p in _nav_pages(v)}
    if isinstance(node, list):
        return {p for item in node for p in _nav_pages(item)}
    return set()


def missing_entries(root: Path) -> list[str]:
    """One line per lab, exercise or solution that an index forgot, each saying which file to fix."""
    nav = _nav_pages(yaml.load((root / "mkdocs.yml").read_text(), Loader=_NavLoader).get("nav", []))
    labs_readme = (root / "labs" / "README.md").read_text()
    labs_index = (root / "docs" / "labs" / "index.md").read_text()
    exercises_index = (root / "docs" / "exercises" / "index.md").read_text()
    problems: list[str] = []
    for nb in sorted((root / "labs").glob("*.ipynb")):
        if f"`{nb.name}`" not in labs_readme:
            problems.append(f"labs/{nb.name} is missing from labs/README.md: add a row for it to the notebook table")
        if f"({nb.stem}.md)" not in labs_index:
            problems.append(f"labs/{nb.name} is missing from docs/labs/index.md: add a row linking {nb.stem}.md")
        if f"labs/{nb.stem}.md" not in nav:
            problems.append(f"labs/{nb.name} is missing from mkdocs.yml nav: add labs/{nb.stem}.md under Labs")
    for ex in sorted(d for d in (root / "exercises").iterdir() if d.is_dir() and d.name[:2].isdigit()):
        if f"({ex.name}.md)" not in exercises_index:
            problems.append(f"exercises/{ex.name} is missing from docs/exercises/index.md: add a row linking "
                            f"{ex.name}.md")
        if f"exercises/{ex.name}.md" not in nav:
            problems.append(f"exercises/{ex.name} is missing from mkdocs.yml nav: add exercises/{ex.name}.md "
                            "under Exercises")
    for sol in sorted(d for d in (root / "solutions").iterdir() if d.is_dir() and d.name[:2].isdigit()):
        if not (root / "exercises" / sol.name).is_dir():
            problems.append(f"solutions/{sol.name} has no exercises/{sol.name}: add the learner's folder or "
                            "rename the solution to match it")
    return problems


def test_every_lab_and_exercise_is_indexed() -> None:
    assert not missing_entries(ROOT), "\n".join(missing_entries(ROOT))


def _copy(tmp: Path) -> Path:
    """A copy of just what the checker reads: the index files, the notebooks and the exercise folders."""
    for rel in ("mkdocs.yml", "labs/README.md", "docs/labs/index.md", "docs/exercises/index.md"):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp / rel)
    for nb in (ROOT / "labs").glob("*.ipynb"):
        shutil.copy(nb, tmp / "labs" / nb.name)
    for top in ("exercises", "solutions"):
        shutil.copytree(ROOT / top, tmp / top, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return tmp


def _first_lab() -> str:
    return sorted((ROOT / "labs").glob("*.ipynb"))[0].stem


def _first_exercise() -> str:
    return sorted(d.name for d in (ROOT / "exercises").iterdir() if d.is_dir() and d.name[:2].isdigit())[0]


def _drop_lines(path: Path, needle: str) -> None:
    text = path.read_text()
    kept = [line for line in text.splitlines(keepends=True) if needle not in line]
    assert len(kept) < len(text.splitlines()), f"{needle!r} not found in {path}: the removal proves nothing"
    path.write_text("".join(kept))


@pytest.mark.parametrize("where", ["labs/README.md", "docs/labs/index.md", "mkdocs.yml"])
def test_a_lab_left_out_of_an_index_is_reported(tmp_path: Path, where: str) -> None:
    copy = _copy(tmp_path)
    lab = _first_lab()
    assert not missing_entries(copy)
    _drop_lines(copy / where, f"{lab}.ipynb`" if where == "labs/README.md" else f"{lab}.md")
    got = missing_entries(copy)
    assert len(got) == 1 and f"labs/{lab}.ipynb is missing from {where}" in got[0], got


@pytest.mark.parametrize("where", ["docs/exercises/index.md", "mkdocs.yml"])
def test_an_exercise_left_out_of_an_index_is_reported(tmp_path: Path, where: str) -> None:
    copy = _copy(tmp_path)
    ex = _first_exercise()
    _drop_lines(copy / where, f"{ex}.md")
    got = missing_entries(copy)
    assert len(got) == 1 and f"exercises/{ex} is missing from {where}" in got[0], got


def test_a_solution_without_its_exercise_is_reported(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    ex = _first_exercise()
    shutil.rmtree(copy / "exercises" / ex)
    got = missing_entries(copy)
    assert got == [f"solutions/{ex} has no exercises/{ex}: add the learner's folder or rename the solution "
                   "to match it"], got
