"""Public tests for exercise 4: point NIMLAB_NIM_URL at a healthy course NIM and NIMLAB_EXPECTED_PROFILE_ID at
the id it should select (see README.md); NIMLAB_BASELINE_TOK_S is optional."""

import importlib.util
import os
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("ex04_answer", Path(__file__).parent / "answer.py")
answer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(answer)

URL = os.environ.get("NIMLAB_NIM_URL")
EXPECTED = os.environ.get("NIMLAB_EXPECTED_PROFILE_ID")
BASELINE = float(os.environ["NIMLAB_BASELINE_TOK_S"]) if os.environ.get("NIMLAB_BASELINE_TOK_S") else None


@pytest.mark.skipif(not (URL and EXPECTED), reason="set NIMLAB_NIM_URL and NIMLAB_EXPECTED_PROFILE_ID")
def test_healthy_nim_is_healthy():
    got = answer.check_nim(URL, EXPECTED, BASELINE)
    assert got["ready"] is True and got["expected"] is True and got["batching"] is True
    assert got["verdict"] == "healthy", got["reason"]


@pytest.mark.skipif(not URL, reason="set NIMLAB_NIM_URL to a running course NIM")
def test_another_expected_id_is_a_fallback():
    got = answer.check_nim(URL, "0" * 64, BASELINE)
    assert got["expected"] is False and got["verdict"] == "fallback"


def test_unreachable_is_not_ready():
    got = answer.check_nim("http://127.0.0.1:9", "0" * 64, 100.0)
    assert got["ready"] is False and got["verdict"] == "not_ready"
