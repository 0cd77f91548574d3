"""Each exercise: the reference solution scores full marks, the untouched starter zero, and a plausible wrong
answer loses exactly the points it should (worked out in each test's docstring)."""

from __future__ import annotations

import pytest
from grader_helpers import FIXTURES, course, reference, submission

from nimlab.grader.grade import grade_submission

STATIC = ["01", "02", "03", "05", "06"]  # exercise 4 is graded live: tests/test_grader_live.py


def test_reference_solutions_score_full_marks():
    c = course(*STATIC)
    res = grade_submission(c.solutions_root, c)
    for ex in res.exercises:
        assert ex.score == ex.max_score > 0, (ex.exercise, [(t.name, t.feedback) for t in ex.tests if not t.passed])
    assert res.message == "" and not res.errors


def test_untouched_starters_score_zero():
    c = course(*STATIC)
    res = grade_submission(c.exercises_root, c)
    assert [e.score for e in res.exercises] == [0] * len(STATIC)
    assert res.max_score > 0


def grade_one(tmp_path, ex_id: str, body: str | object, entry: str = "answer.py"):
    c = course(ex_id)
    ex = c.exercises[0]
    sub = submission(tmp_path, "learner", {f"{ex.id}/{ex.entry}": body})
    return grade_submission(sub, c).exercises[0]


def test_ex1_ignoring_the_licence_loses_exactly_its_points(tmp_path):
    """Without the licence rule: public licence scenario 2 (verdict, reasons); hidden LoRA+licence 2 (verdict
    nim_with_lora, reasons [lora] vs [licence]: 0); portable+licence reasons 2 of 3 right: 1/3 lost. 26 - 4 1/3."""
    wrong = reference("01").replace('if s["licence_cost_per_year"] > s["engineering_cost_saved_per_year"]:',
                                    "if False:")
    ex = grade_one(tmp_path, "01", wrong)
    assert ex.score == pytest.approx(26 - 2 - 2 - 1 / 3, abs=1e-3)
    tests = {t.name: t for t in ex.tests}
    part = tests["portable proprietary model, licence too dear: reasons"]
    assert part.score == pytest.approx(2 / 3, abs=1e-3) and "2 of 3 reasons right" in part.feedback


def test_ex2_forgetting_rebuilds_loses_exactly_its_points(tmp_path):
    """Build cost without rebuilds: build_cost wrong in all 4 cases (8), yearly tables all wrong (8),
    break-even wrong where it is positive (3 cases, 6), cheaper flips in the 2 cases NIM should win (2)."""
    wrong = reference("02").replace(' + p["rebuild_weeks"] * p["versions_per_year"] * years', "")
    ex = grade_one(tmp_path, "02", wrong)
    assert ex.score == 36 - 8 - 8 - 6 - 2


def test_ex3_trusting_that_it_answers_loses_exactly_its_points(tmp_path):
    """Always 'optimized'/'none': loses 'what happened' (2) and 'the fix' (1) on the 8 logs where something
    went wrong (3 public, 5 hidden) and nothing else: 66 - 24."""
    wrong = reference("03") + (
        "\n\n_ref = diagnose\n\n\ndef diagnose(log, metrics=None, benchmark=None):\n"
        "    d = _ref(log, metrics, benchmark)\n    d.update(finding='optimized', fix='none')\n    return d\n")
    ex = grade_one(tmp_path, "03", wrong)
    assert ex.score == 66 - 24


def test_ex5_latest_tag_no_gpu_no_required_key(tmp_path):
    """No GPU reservation (2), a key that is not required (2), an unpinned tag (1, hidden): 12 - 5."""
    ex = grade_one(tmp_path, "05", FIXTURES / "wrong" / "05-compose-latest-no-gpu.yaml")
    assert ex.score == 12 - 5
    fb = {t.name: t.feedback for t in ex.tests}
    assert "${NGC_API_KEY:?message}" in fb["missing NGC_API_KEY fails clearly"]


def test_ex5_invalid_compose_gets_the_validators_message(tmp_path):
    ex = grade_one(tmp_path, "05", "services:\n  nim:\n    image: nvcr.io/nim/x:1\n    shm_size: lots\n")
    assert ex.score == 0
    assert "docker compose rejected the file" in ex.tests[0].feedback


def test_ex6_max_batch_size_zero_and_one_instance(tmp_path):
    """max_batch_size 0 (1), so dynamic batching does nothing (2), preferred sizes beyond it (1, hidden),
    one instance (2): 11 - 6."""
    ex = grade_one(tmp_path, "06", FIXTURES / "wrong" / "06-no-batching.pbtxt")
    assert ex.score == 11 - 6


def test_ex6_parse_error_names_line_and_column(tmp_path):
    ex = grade_one(tmp_path, "06", FIXTURES / "wrong" / "06-bad-syntax.pbtxt")
    assert ex.score == 0
    assert "4:" in ex.tests[0].feedback and "max_queue_delay_us" in ex.tests[0].feedback
