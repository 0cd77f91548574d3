"""The site service's builder (nimlab/lab/site.py): rebuild exactly when the docs change, fail with a next step."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nimlab.errors import ServiceError
from nimlab.lab.site import ensure_built, fingerprint

ROOT = Path(__file__).resolve().parents[2]


def _checkout_copy(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copy(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    for statement in (ROOT / "exercises").glob("*/README.md"):  # pages include them with --8<--
        (root / statement.relative_to(ROOT)).parent.mkdir(parents=True)
        shutil.copy(statement, root / statement.relative_to(ROOT))
    return root


def test_fingerprint_changes_with_any_page_and_returns_when_reverted(tmp_path):
    root = _checkout_copy(tmp_path)
    page = root / "docs" / "start-here.md"
    before = fingerprint(root)
    text = page.read_text()
    page.write_text(text + "\nOne more line.\n")
    edited = fingerprint(root)
    page.write_text(text)
    assert edited != before and fingerprint(root) == before
    (root / "docs" / "new-page.md").write_text("# New\n")
    assert fingerprint(root) != before, "a new file counts too"
    (root / "docs" / "new-page.md").unlink()
    statement = next((root / "exercises").glob("*/README.md"))
    statement.write_text(statement.read_text() + "\nChanged.\n")
    assert fingerprint(root) != before, "an exercise statement a page includes counts too"


@pytest.mark.slow
def test_builds_once_then_reuses_the_build(tmp_path):
    root = _checkout_copy(tmp_path)
    said: list[str] = []
    first = ensure_built(root, log=said.append)
    assert (first / "index.html").is_file() and (first / "start-here" / "index.html").is_file()
    assert any(line.startswith("Built the site in") for line in said)
    said.clear()
    assert ensure_built(root, log=said.append) == first
    assert said == [f"Site up to date ({first})"]


def test_a_broken_config_fails_with_the_mkdocs_message_and_a_next_step(tmp_path):
    root = _checkout_copy(tmp_path)
    (root / "mkdocs.yml").write_text("site_name: broken\nnav:\n  - Missing: no-such-page.md\ntheme:\n  name: nope\n")
    with pytest.raises(ServiceError) as err:
        ensure_built(root, log=lambda _m: None)
    assert "mkdocs could not build the site" in str(err.value) and "nope" in str(err.value)
    assert "mkdocs build --strict" in err.value.hint
    assert not list((root / ".nimlab" / "site").glob(".build-*")), "a failed build leaves no half-built folder"
