"""Public tests for exercise 4: point NIMLAB_NIM_URL at an optimized course NIM (see README.md)."""

import importlib.util
import os
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("ex04_answer", Path(__file__).parent / "answer.py")
answer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(answer)

URL = os.environ.get("NIMLAB_NIM_URL")


@pytest.mark.skipif(not URL, reason="set NIMLAB_NIM_URL to a running course NIM")
def test_optimized_nim_is_recognised():
    got = answer.check_nim(URL)
    assert got["ready"] is True
    assert got["optimized"] is True
    assert got["profile"]


def test_unreachable_is_not_ready():
    got = answer.check_nim("http://127.0.0.1:9")
    assert got["ready"] is False and got["optimized"] is False
