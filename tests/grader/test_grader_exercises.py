"""Each exercise: the reference solution scores full marks, the untouched starter zero, and a plausible wrong
answer loses exactly the points it should (worked out in each test's docstring)."""

from __future__ import annotations

import pytest
from grader_helpers import FIXTURES, course, reference, submission

from nimlab.grader.grade import grade_submission

STATIC = ["01", "02", "03", "05", "06", "07", "08"]  # exercise 4 is graded live: tests/grader/test_grader_live.py


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
    """Always 'optimized'/'none': loses 'what happened' (2) and 'the fix' (1) on the 10 logs where the profile
    went wrong (4 public, 6 hidden), and the fix (1) where the batch size was forced to one: 92 - 31."""
    wrong = reference("03") + (
        "\n\n_ref = diagnose\n\n\ndef diagnose(log, metrics=None, benchmark=None):\n"
        "    d = _ref(log, metrics, benchmark)\n    d.update(finding='optimized', fix='none')\n    return d\n")
    ex = grade_one(tmp_path, "03", wrong)
    assert ex.score == 92 - 31


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


def test_ex7_selecting_without_the_lora_filter_loses_exactly_its_points(tmp_path):
    """Picking the first optimized profile whatever its LoRA support (the "this GPU has a fast profile, so my
    adapters will be fast" mistake). Public: the profile in the H100 cases (2), the rank-64 adapter passes
    (1/3), the L4 fallback is missed (verdict, reasons, profile: 3). Hidden: course NIM on two cores (profile,
    reasons, the rank-48 adapter 1/3), pinned (profile 1), A100 (profile, rank 1/3), custom kernel (profile 1),
    no LoRA profile at all (verdict, reasons, profile: 3). 52 - 5 1/3 - 8 2/3."""
    wrong = reference("07").replace('matching = [p for p in profiles if p["lora"] == lora]', "matching = list(profiles)")
    assert wrong != reference("07")
    ex = grade_one(tmp_path, "07", wrong)
    assert ex.score == pytest.approx(52 - 14, abs=1e-3)
    tests = {t.name: t for t in ex.tests}
    l4 = tests["L4: fast plain profile, no fast LoRA profile: profile"]
    assert l4.score == 0 and "'vllm-bf16-tp1-pp1-lora'" in l4.feedback and "optimized before generic" in l4.feedback
    part = tests["a rank-64 adapter and one trained on another base: refused"]
    assert part.score == pytest.approx(2 / 3, abs=1e-3) and "legal-r64" in part.feedback
    assert "rank_too_high" in part.feedback


def test_ex7_treating_a_refused_adapter_as_a_build_loses_only_those_verdicts(tmp_path):
    """A refused adapter is retrained, not a reason to build: only the verdicts of the three scenarios whose
    one problem is a refused adapter go (1 public, 2 hidden); reasons, profiles and refusals stay right."""
    wrong = reference("07").replace("    build = bool(reasons)\n    if refused:\n        reasons.append(\"adapters_refused\")",
                                    "    if refused:\n        reasons.append(\"adapters_refused\")\n    build = bool(reasons)")
    assert wrong != reference("07")
    ex = grade_one(tmp_path, "07", wrong)
    assert ex.score == 52 - 3
    lost = sorted(t.name for t in ex.tests if not t.passed)
    assert lost[0] == "A100, generic LoRA profile listed first, lower rank limit: verdict"
    assert "a rank-64 adapter and one trained on another base: verdict" in lost and len(lost) == 3


def test_ex7_hidden_scenarios_show_names_and_points_only(tmp_path):
    """A wrong answer's learner view carries no hidden adapter or profile name; the instructor view does."""
    from nimlab.grader.reporters import summary

    wrong = reference("07").replace('matching = [p for p in profiles if p["lora"] == lora]', "matching = list(profiles)")
    c = course("07")
    res = grade_submission(submission(tmp_path, "learner", {"07-lora-or-build/answer.py": wrong}), c)
    learner, instructor = summary(res), summary(res, reveal_hidden=True)
    for secret in ("nimlab_native-cpu-fp32-tp1-pp1-throughput-lora", "tensorrt_llm-a100-bf16-tp4-pp1-throughput-lora",
                   "triage", "wide:"):
        assert secret not in learner, secret
    assert "tensorrt_llm-a100-bf16-tp4-pp1-throughput-lora" in instructor
    assert "'vllm-bf16-tp1-pp1-lora'" in learner  # public feedback still explains itself


def test_checks_module_is_loaded_once_under_concurrent_grading(tmp_path):
    """Batch grading scores on several threads; a checks file must become one module, so state a check keeps
    (caches, locks, counters: exercise 6's live runs) is shared, not duplicated per thread."""
    import threading

    from nimlab.grader.checks import load_checks

    path = tmp_path / "checks.py"
    path.write_text("import time\ntime.sleep(0.3)  # a slow import widens any race\nSTATE = object()\n")
    got: list[object] = []
    start = threading.Barrier(6)

    def load() -> None:
        start.wait()
        got.append(load_checks(path))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(got) == 6 and len({id(m) for m in got}) == 1


def test_ex8_headline_figure_scores_partial_with_feedback_that_says_why(tmp_path):
    """Holding every run against the model's best published figure (the headline number), never refusing:
    right only where that figure happens to be the right row, or the verdict survives by luck. Public: 3 of 16
    (two verdicts, one reasons); hidden: 11 of 40. Feedback on a public test names the figure it should have
    used and says to refuse where no row compares."""
    ex = grade_one(tmp_path, "08", FIXTURES / "wrong" / "08-headline-row.py")
    assert 0 < ex.score < ex.max_score
    assert ex.score == 14 and ex.max_score == 56
    tests = {t.name: t for t in ex.tests}
    exact = tests["the exact row, a little under: expected"]
    assert exact.score == 0 and "814.37" in exact.feedback
    refused = tests["a chat load the table never measured: expected"]
    assert refused.score == 0 and "refuse and give None" in refused.feedback


def test_ex8_nearest_row_instead_of_the_line_between_loses_exactly_those_points(tmp_path):
    """Taking the nearest row's figure where the run falls between two rows: the three interpolated scenarios
    lose their figure and shortfall (public 64 clients; hidden 10 clients and the 8B at 40), and the 8B's verdict
    flips to on_par (1000 / 1000). 56 - 7."""
    old = ('        expected = lo["output_tokens_per_s"] + share * (hi["output_tokens_per_s"] - '
           'lo["output_tokens_per_s"])')
    wrong = reference("08").replace(
        old, '        expected = (lo if c - lo["concurrency"] <= hi["concurrency"] - c else hi)["output_tokens_per_s"]')
    assert wrong != reference("08")
    ex = grade_one(tmp_path, "08", wrong)
    assert ex.score == 56 - 7
    lost = sorted(t.name for t in ex.tests if not t.passed)
    assert "shorter prompts at 64 clients: expected" in lost and "an 8B on one L40S at 40 clients: verdict" in lost


def test_ex8_hidden_runs_show_names_and_points_only(tmp_path):
    """A wrong answer's learner view carries no hidden expected figure or hidden setup; the instructor view does."""
    from nimlab.grader.reporters import summary

    c = course("08")
    sub = submission(tmp_path, "learner", {"08-read-the-benchmark/answer.py": FIXTURES / "wrong" / "08-headline-row.py"})
    res = grade_submission(sub, c)
    learner, instructor = summary(res), summary(res, reveal_hidden=True)
    for secret in ("1,125.00", "319.71", "H200-141GB", "700.00"):
        assert secret not in learner, secret
    assert "1,125.00" in instructor
    assert "814.37" in learner  # public feedback still explains itself


def test_ex6_negative_instance_counts_and_no_preferred_sizes_fail(tmp_path):
    """[{count: 3}, {count: -1}] adds up to 2 but is not two instances; dynamic batching with no preferred
    batch size does not pass the preferred-sizes test."""
    ref = (FIXTURES.parents[2] / "solutions/06-triton-config/config.pbtxt").read_text()
    assert "count: 2" in ref and "preferred_batch_size: [ 4, 8 ]" in ref
    bad = ref.replace("count: 2", "count: 3", 1).replace("instance_group [", "instance_group [\n  { count: -1 kind: KIND_CPU },", 1)
    bad = bad.replace("preferred_batch_size: [ 4, 8 ]", "")
    ex = grade_one(tmp_path, "06", bad, entry="config.pbtxt")
    tests = {t.name: t for t in ex.tests}
    failing = {n for n, t in tests.items() if not t.passed}
    assert any("instance" in n for n in failing), failing
    assert any("preferred" in n for n in failing), failing


def test_ex5_hard_coded_key_fails_the_environment_test(tmp_path):
    """A compose file that writes the public dummy key in never passes the hidden key-from-environment test."""
    ref = (FIXTURES.parents[2] / "solutions/05-compose-nim/compose.yaml").read_text()
    ex = grade_one(tmp_path, "05", ref)
    assert next(t for t in ex.tests if t.name == "NGC_API_KEY taken from the environment").passed
    import re

    hard = re.sub(r"NGC_API_KEY: .*", "NGC_API_KEY: dummy-ngc-key-for-validation", ref)
    assert hard != ref
    ex = grade_one(tmp_path / "hard", "05", hard)
    assert not next(t for t in ex.tests if t.name == "NGC_API_KEY taken from the environment").passed


def test_the_2x_style_manifest_runs_the_packaged_engines():
    """Exercise 4's healthy NIM 2.x case differs from the packaged NIM only in names and ids: if its runtime
    drifted (say, another engine), it would be slower than the baseline and graded 'slow' for the wrong reason."""
    from nimlab.grader.resources import MANIFEST_2X
    from nimlab.nim.manifest import load_manifest

    packaged = {tuple(sorted(p.tags.items())): p for p in load_manifest().profiles if p.runtime is not None}
    twox = load_manifest(MANIFEST_2X).profiles
    assert twox and all(p.name.startswith("vllm-") for p in twox)
    for p in twox:
        twin = packaged.get(tuple(sorted(p.tags.items())))
        assert twin is not None, f"{p.name}: no packaged profile has its tags"
        assert (p.runtime, p.requires) == (twin.runtime, twin.requires), f"{p.name} runs differently from {twin.name}"
