"""Public tests for exercise 7 (the grader runs these and hidden ones). Run: python -m pytest -q here."""

import importlib.util
from pathlib import Path

import pytest
import yaml

_spec = importlib.util.spec_from_file_location("ex07_answer", Path(__file__).parent / "answer.py")
answer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(answer)
CASES = yaml.safe_load((Path(__file__).parent / "public_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_public(case):
    got = answer.plan(*case["call"]["args"])
    key, want = case["check"], case["expect"][case["check"]]
    if key == "reasons":
        assert sorted(got["reasons"]) == sorted(want)
    elif key == "refused":
        assert {k: sorted(v) for k, v in got["refused"].items()} == {k: sorted(v) for k, v in want.items()}
    else:
        assert got[key] == want
