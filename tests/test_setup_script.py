"""scripts/setup.sh refuses what it cannot do with one line and a next step, before it touches .venv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_an_unknown_option_is_refused_with_the_usage(tmp_path):
    out = setup("--devv", NIMLAB_VENV=str(tmp_path / "venv"))
    assert out.returncode == 2
    assert "error: unknown option --devv" in out.stdout and "next: bash scripts/setup.sh [--dev] [--force]" in out.stdout
    assert not (tmp_path / "venv").exists()


def test_a_python_that_is_not_3_11_is_refused(tmp_path):
    out = setup(NIMLAB_VENV=str(tmp_path / "venv"), PYTHON="/bin/false")
    assert out.returncode == 1
    assert "nimlab needs Python 3.11" in out.stdout and "next: install Python 3.11" in out.stdout
    assert not (tmp_path / "venv").exists()
