"""Exercise 4 graded live against real course NIMs the grader starts (extensions off: published fields only):
the reference gets full marks; the old rule (hardware tag + num_request_max), a profile-name-prefix rule and
"it answers, so it's fine" each lose the points of the case they misjudge; the untouched starter scores zero.
Lab 4, run as a GPU-stack learner runs it, reads the same NIMs (one start of the four for both: ~40 s).
Exercise 6 runs on the real Triton."""

from __future__ import annotations

import json

import httpx
import nbformat
import pytest
from grader_helpers import ROOT, course, reference, submission
from nbclient import NotebookClient

from nimlab.grader.grade import Options, grade_batch
from nimlab.grader.resources import MANIFEST_2X, course_nims, describe
from nimlab.nim.manifest import load_manifest

pytestmark = pytest.mark.slow
EX = "04-fallback-healthcheck"


def _profiles() -> dict[str, dict]:
    """id -> {name, tags}, as a learner records it from `list-model-profiles` of both NIM images."""
    return {p.id: {"name": p.name, "tags": dict(p.tags)}
            for m in (load_manifest(), load_manifest(MANIFEST_2X)) for p in m.profiles}


# Each wrong answer reuses the reference for the fields and changes only the judgement, so what it loses is
# exactly the cases its rule misjudges.
OLD_RULE = """
_reference = check_nim
PROFILES = {profiles}


def check_nim(base_url, expected_profile_id=None, baseline_tok_s=None):
    out = _reference(base_url, expected_profile_id, None)
    if out["ready"]:  # the old rule: a hardware tag and num_request_max > 1 = optimized, else a fallback
        tags = PROFILES.get(out["profile_id"], {{}}).get("tags", {{}})
        hardware = "gpu" in tags or "cpu" in tags
        out["verdict"] = "healthy" if hardware and out["batching"] is not False else "fallback"
    return out
"""
NAME_PREFIX = """
_reference = check_nim
PROFILES = {profiles}


def check_nim(base_url, expected_profile_id=None, baseline_tok_s=None):
    out = _reference(base_url, None, baseline_tok_s)
    if out["ready"]:
        out["expected"] = out["profile_id"] == expected_profile_id
        name = PROFILES.get(out["profile_id"], {{}}).get("name", "")
        if name.startswith(("vllm", "sglang", "nimlab_torch")):  # "a vllm profile is the generic fallback"
            out["verdict"] = "fallback"
    return out
"""
NAIVE = """
import urllib.request


def check_nim(base_url, expected_profile_id=None, baseline_tok_s=None):
    try:
        ok = urllib.request.urlopen(base_url + "/v1/health/ready", timeout=5).status == 200
    except OSError:
        ok = False
    return {"ready": ok, "profile_id": None, "expected": None, "batching": None, "tok_s": None,
            "verdict": "healthy" if ok else "not_ready", "reason": "it answers, so it is fine"}
"""


@pytest.fixture(scope="module")
def nims():
    with course_nims() as res:
        yield res


def test_lab4_gpu_stack_cells_run_on_the_published_metadata(nims, monkeypatch):
    """Lab 4 as a GPU-stack learner runs it (NIMLAB_STACK=gpu: no course-only cell), pointed at the grader's
    course NIMs (NIMLAB_NIM_EXTENSIONS=off), so /v1/metadata carries only NVIDIA's published fields. Its health
    check must tell the healthy NIM, the batching fallback and the forced batch size of one apart. First in the
    module, so it runs right after the baseline is measured, as it did when it started the NIMs itself."""
    for kind in ("optimized", "generic", "serial"):
        meta = httpx.get(nims[f"course_nims.{kind}"] + "/v1/metadata", timeout=10).json()
        assert "nimlab" not in meta, kind
    monkeypatch.setenv("NIMLAB_STACK", "gpu")
    monkeypatch.setenv("NIM_URL", nims["course_nims.optimized"] + "/v1")
    monkeypatch.setenv("NIM_FALLBACK_URL", nims["course_nims.generic"] + "/v1")
    monkeypatch.setenv("NIM_MISCONFIGURED_URL", nims["course_nims.serial"] + "/v1")
    monkeypatch.delenv("NIM_EXPECTED_PROFILE_ID", raising=False)
    # the baseline exercise 4's grader records (two probes at once): a loaded host's noise stays above 60%
    monkeypatch.setenv("NIM_BASELINE_TOK_S", str(nims["course_nims.baseline_tok_s"]))
    labs = ROOT / "labs"
    nb = nbformat.read(labs / "04-fallback-incident.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(labs)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    verdicts = dict(line.split(maxsplit=1) for line in text.splitlines() if line.startswith(("healthy ", "fallback ",
                                                                                              "misconfigured ")))
    assert verdicts["healthy"].startswith("('healthy'"), text[-1500:]
    assert verdicts["fallback"].startswith("('fallback'"), text[-1500:]
    assert verdicts["misconfigured"].startswith("('misconfigured'"), text[-1500:]


@pytest.fixture(scope="module")
def graded(nims, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    ref = reference("04")
    table = json.dumps(_profiles())
    subs = [submission(tmp, "reference", {f"{EX}/answer.py": ref}),
            submission(tmp, "starter", {f"{EX}/answer.py": (ROOT / "exercises" / EX / "answer.py").read_text()}),
            submission(tmp, "old_rule", {f"{EX}/answer.py": ref + OLD_RULE.format(profiles=table)}),
            submission(tmp, "name_prefix", {f"{EX}/answer.py": ref + NAME_PREFIX.format(profiles=table)}),
            submission(tmp, "naive", {f"{EX}/answer.py": NAIVE})]
    results = grade_batch(subs, course("04"), Options(resources=nims), workers=2)
    return {r.submission: r for r in results}


def lost(res) -> set[str]:
    return {t.name for t in res.tests if not t.passed}


def test_the_grader_serves_only_published_metadata(nims):
    for kind in ("optimized", "generic", "twox", "serial"):
        meta = httpx.get(nims[f"course_nims.{kind}"] + "/v1/metadata", timeout=10).json()
        assert "nimlab" not in meta and "selectedModelProfileId" in meta, kind


def test_reference_gets_full_marks_live(graded):
    res = graded["reference"]
    assert res.score == res.max_score == 26, [(t.name, t.feedback) for t in res.tests if not t.passed]


def test_starter_scores_zero_live(graded):
    assert graded["starter"].score == 0


def test_old_rule_misses_the_misconfiguration_and_the_slow_nim(graded):
    """Hardware tag + num_request_max: calls the forced batch size a fallback and never measures speed."""
    assert lost(graded["old_rule"]) == {"batch size forced to one: verdict", "right profile, under the baseline: verdict"}


def test_name_prefix_rule_flags_a_healthy_nim_2x(graded):
    assert lost(graded["name_prefix"]) == {"healthy NIM 2.x (vllm-* profiles): verdict"}


def test_it_answers_so_its_fine_is_caught(graded):
    res = graded["naive"]
    assert {"fallback that still batches: verdict", "batch size forced to one: verdict",
            "right profile, under the baseline: verdict"} <= lost(res)
    assert res.score < res.max_score / 2


def test_grader_refuses_a_mislabelled_case(nims):
    from nimlab.errors import ServiceError

    urls = {k: nims[f"course_nims.{k}"] for k in ("optimized", "generic", "twox", "serial")}
    with pytest.raises(ServiceError, match="generic"):
        describe({**urls, "generic": urls["optimized"]})
    with pytest.raises(ServiceError, match="serial"):
        describe({**urls, "serial": urls["twox"]})


def test_triton_config_on_the_real_triton(tmp_path):
    """Exercise 6 with --live triton_live: the reference loads with two instances and batches form (15/15);
    an untuned config loads but has one instance and no batching: static 11 - 6 (dynamic 2, instances 2,
    delay 1, preferred sizes 1: none given) + live 1 of 4 = 6; max_batch_size 0 with preferred sizes is
    refused by Triton: 5 + 0 = 5."""
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
    assert results["untuned"].score == 6
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
