"""scripts/setup.sh refuses what it cannot do with one line and a next step, before it touches .venv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fake(tmp_path: Path, name: str, body: str) -> Path:
    """A stand-in executable (a Python that reports another version, a uname of another machine)."""
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


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


def test_another_python_version_is_named_with_how_to_get_3_11(tmp_path):
    py = fake(tmp_path, "python3.12", 'echo "Python 3.12.4"; exit 1')
    out = setup(NIMLAB_VENV=str(tmp_path / "venv"), PYTHON=str(py))
    assert out.returncode == 1
    assert out.stdout.splitlines()[0] == "error: nimlab needs Python 3.11 (found: Python 3.12.4)"
    assert "apt-get install python3.11" in out.stdout and "PYTHON=/path/to/python3.11" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr and not (tmp_path / "venv").exists()


def test_macos_is_refused_before_python_is_looked_at(tmp_path):
    fake(tmp_path, "uname", 'case "$1" in -s) echo Darwin;; -m) echo arm64;; esac')
    out = setup(NIMLAB_VENV=str(tmp_path / "venv"), PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "error: nimlab needs Linux x86-64 or WSL2 (this is macOS arm64)",
        "  next: run the course on a Linux x86-64 machine or VM, or in WSL2 on Windows (README: What it needs)"]
    assert not (tmp_path / "venv").exists()


def test_arm_linux_is_refused(tmp_path):
    fake(tmp_path, "uname", 'case "$1" in -s) echo Linux;; -m) echo aarch64;; esac')
    out = setup(NIMLAB_VENV=str(tmp_path / "venv"), PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert out.returncode == 1 and "error: nimlab needs an x86-64 CPU (this is Linux aarch64" in out.stdout
    assert not (tmp_path / "venv").exists()
