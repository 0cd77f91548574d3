"""Public tests for exercise 1 (the grader runs these and hidden ones). Run: python -m pytest -q here."""

from pathlib import Path

import pytest
import yaml

from answer import classify

CASES = yaml.safe_load((Path(__file__).parent / "public_cases.yaml").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_public(case):
    got = classify(*case["call"]["args"])
    if case["check"] == "verdict":
        assert got["verdict"] == case["expect"]["verdict"]
    else:
        assert sorted(got["reasons"]) == sorted(case["expect"]["reasons"])
