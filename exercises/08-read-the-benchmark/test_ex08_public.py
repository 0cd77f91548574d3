"""Public tests for exercise 8 (the grader runs these and hidden ones). Run: python -m pytest -q here."""

import importlib.util
from pathlib import Path

import pytest
import yaml

_spec = importlib.util.spec_from_file_location("ex08_answer", Path(__file__).parent / "answer.py")
answer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(answer)
CASES = yaml.safe_load((Path(__file__).parent / "public_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_public(case):
    got = answer.compare(*case["call"]["args"])
    want = case["expect"]
    if case["check"] == "verdict":
        assert got["verdict"] == want["verdict"]
    elif case["check"] == "reasons":
        assert sorted(got["reasons"]) == sorted(want["reasons"])
    elif case["check"] == "expected":
        if want["expected_tokens_per_s"] is None:
            assert got["expected_tokens_per_s"] is None
        else:
            assert got["expected_tokens_per_s"] == pytest.approx(want["expected_tokens_per_s"], rel=0.01)
    else:
        if want["shortfall"] is None:
            assert got["shortfall"] is None
        else:
            assert got["shortfall"] == pytest.approx(want["shortfall"], abs=0.005)
