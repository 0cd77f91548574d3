"""Exercise 4 graded live against real course NIMs (optimized and generic): the reference passes, the
untouched starter scores zero, and "it answers, so it's fine" loses exactly the fallback points."""

from __future__ import annotations

import pytest
from grader_helpers import ROOT, course, reference, submission

from nimlab.grader.grade import Options, grade_batch
from nimlab.grader.resources import describe_pair

pytestmark = pytest.mark.slow

NAIVE = '''
import urllib.request


def check_nim(base_url):
    try:
        ok = urllib.request.urlopen(base_url + "/v1/health/ready", timeout=5).status == 200
    except OSError:
        ok = False
    return {"ready": ok, "optimized": ok, "profile": None, "reason": "it answers, so it is fine"}
'''


@pytest.fixture(scope="module")
def graded(nim_optimized, nim_generic, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    ex = "04-fallback-healthcheck"
    subs = [submission(tmp, "reference", {f"{ex}/answer.py": reference("04")}),
            submission(tmp, "starter", {f"{ex}/answer.py": (ROOT / "exercises" / ex / "answer.py").read_text()}),
            submission(tmp, "naive", {f"{ex}/answer.py": NAIVE})]
    resources = describe_pair(nim_optimized.url, nim_generic.url)
    results = grade_batch(subs, course("04"), Options(resources=resources), workers=2)
    return {r.submission: r for r in results}


def test_reference_passes_live(graded):
    res = graded["reference"]
    assert res.score == res.max_score == 12, [(t.name, t.feedback) for t in res.tests]


def test_starter_scores_zero_live(graded):
    assert graded["starter"].score == 0


def test_it_answers_so_its_fine_is_caught(graded):
    """Keeps: both 'it answers' (1+1), 'recognised as optimized' (3, by luck), unreachable (2) = 7.
    Loses: the generic NIM not caught (3) and both profile names (1+1)."""
    res = graded["naive"]
    assert res.score == 7
    lost = {t.name for t in res.tests if not t.passed}
    assert lost == {"generic profile: caught as a fallback", "generic profile: names the profile",
                    "optimized profile: names the profile"}


def test_grader_refuses_a_mislabelled_pair(nim_optimized, nim_generic):
    from nimlab.errors import ServiceError

    with pytest.raises(ServiceError):
        describe_pair(nim_generic.url, nim_optimized.url)


def test_triton_config_on_the_real_triton(tmp_path):
    """Exercise 6 with --live triton_live: the reference loads with two instances and batches form (15/15);
    an untuned config loads but has one instance and no batching: static 11 - 5 (dynamic 2, instances 2,
    delay 1) + live 1 of 4 = 7; max_batch_size 0 with preferred sizes is refused by Triton: 5 + 0 = 5."""
    from grader_helpers import FIXTURES

    from nimlab.grader.manifest import load_course
    from nimlab.grader.resources import provide

    c = load_course(ROOT, ["06"], live={"triton_live"})
    ex = "06-triton-config"
    subs = [submission(tmp_path, "reference", {f"{ex}/config.pbtxt": (ROOT / "solutions" / ex / "config.pbtxt")}),
            submission(tmp_path, "untuned", {f"{ex}/config.pbtxt": FIXTURES / "wrong" / "06-untuned.pbtxt"}),
            submission(tmp_path, "refused", {f"{ex}/config.pbtxt": FIXTURES / "wrong" / "06-no-batching.pbtxt"})]
    with provide({"triton_live"}) as resources:
        results = {r.submission: r for r in grade_batch(subs, c, Options(resources=resources), workers=2)}
    assert results["reference"].score == results["reference"].max_score == 15
    assert results["untuned"].score == 7
    fb = {t.name: t.feedback for t in results["untuned"].tests}
    assert "no batches formed" in fb["batches formed under load"]
    assert results["refused"].score == 5
    assert "refused" in {t.name: t.feedback for t in results["refused"].tests}["loads on the real Triton"]


def test_live_runs_from_two_loaded_copies_do_not_collide():
    """Batch grading may load exercise 6's live module twice (one per check-module load on two threads):
    two runs started together must still each load their own model and read only their own statistics."""
    import importlib.util
    import threading

    from nimlab.grader.checks import load_checks
    from nimlab.grader.resources import provide

    ex = ROOT / "solutions" / "06-triton-config"

    def copy(tag: str):  # a second, separate load of live.py, as a racing checks-module load would make
        spec = importlib.util.spec_from_file_location(f"ex06_live_{tag}", ex / "live.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    cfg, why = load_checks(ex / "checks.py")._parse((ex / "config.pbtxt").read_text())
    assert cfg is not None, why
    with provide({"triton_live"}) as res:
        out: dict[str, dict] = {}
        start = threading.Barrier(2)

        def go(tag: str) -> None:
            mod = copy(tag)
            start.wait()
            out[tag] = mod.run(cfg, res["triton_live.repo"], res["triton_live.http"], requests=24, clients=6)

        threads = [threading.Thread(target=go, args=(t,)) for t in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
    for tag in ("a", "b"):
        assert out[tag]["loaded"], out[tag]
        assert out[tag]["inferences"] == 24, out[tag]  # its own 24 requests, none of the other run's
