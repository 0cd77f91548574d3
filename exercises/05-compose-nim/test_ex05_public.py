"""Public tests for exercise 5: the Compose v2 CLI must accept the file, and refuse it without NGC_API_KEY."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

FILE = Path(__file__).parent / "compose.yaml"
CLI = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(CLI is None, reason="docker-compose (Compose v2 CLI) not on PATH")


def config(key: str | None):
    env = {"PATH": os.environ["PATH"], **({"NGC_API_KEY": key} if key else {})}
    return subprocess.run([CLI, "-f", str(FILE), "config", "--format", "json"], env=env, capture_output=True, text=True)


def test_valid_with_a_nim_service():
    p = config("x")
    assert p.returncode == 0, p.stderr
    images = [s.get("image", "") for s in json.loads(p.stdout)["services"].values()]
    assert any(i.startswith("nvcr.io/nim/") for i in images)


def test_missing_key_fails_clearly():
    p = config(None)
    assert p.returncode != 0 and "NGC_API_KEY" in p.stderr
