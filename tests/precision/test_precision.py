"""Lower precision on the course NIM: the opt-in int8 profile, and the validation that decides on it.

The validator must discriminate: fp32 against itself agrees perfectly and is accepted; int8 changes
tokens and is judged by the thresholds the caller sets, never by a fixed answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from course_profiles import BF16, OPT_FP32
from course_profiles import OPT as INT8

from nimlab.lab.launch import course_nim
from nimlab.nim.client import running_profile
from nimlab.nim.hardware import detect
from nimlab.nim.manifest import load_manifest
from nimlab.nim.selection import select
from nimlab.precision.criteria import Thresholds
from nimlab.precision.evalset import EVAL_SET, Item
from nimlab.precision.validate import Report, Side, mcnemar_exact, render


def test_auto_selection_prefers_the_lower_precision_hardware_specific_profile():
    """NIM 1.x's order: a learner gets int8 without asking, and must validate it (lab 7) by forcing fp32."""
    manifest, hw = load_manifest(), detect()
    chosen = select(manifest, hw)
    assert chosen.profile.name == INT8 and chosen.profile.runtime.precision == "int8"
    assert select(manifest, hw, forced=OPT_FP32).profile.runtime.precision == "fp32"


def test_list_model_profiles_lists_int8_runnable_and_bf16_by_its_missing_flag():
    out = subprocess.run([sys.executable, "-m", "nimlab", "list-model-profiles"], capture_output=True, text=True,
                         timeout=60).stdout
    int8_line = next(line for line in out.splitlines() if INT8 in line)
    assert "[optimized]" in int8_line and "opt-in" not in int8_line
    if "avx512_bf16" not in detect().cpu_flags:
        assert "needs CPU flags ['avx512_bf16']" in out.split(BF16)[1].splitlines()[1]


def test_a_manifest_with_an_unknown_precision_names_the_line(tmp_path):
    from nimlab.errors import ConfigError

    text = (Path(__file__).resolve().parents[2] / "nimlab/nim/manifest.yaml").read_text()
    bad = tmp_path / "manifest.yaml"
    bad.write_text(text.replace("engine_threads: 1}", "engine_threads: 1, precision: fp4}", 1))
    with pytest.raises(ConfigError) as info:
        load_manifest(bad)
    assert "manifest.yaml:" in str(info.value) and "runtime.precision 'fp4' has no engine here" in str(info.value)


def test_mcnemar_exact_matches_the_binomial_test():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)  # 2 * (1 + 7) / 128
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(3, 3) == 1.0


def test_items_score_on_any_accepted_spelling():
    item = Item("How many legs does a spider have?", "eight", ("8",))
    assert item.scores("A spider has 8 legs.") and item.scores("Eight.") and not item.scores("Six legs.")
    assert len({i.prompt for i in EVAL_SET}) == len(EVAL_SET) >= 20


@pytest.mark.slow
def test_fp32_against_itself_agrees_perfectly_and_is_accepted():
    from nimlab.precision.validate import validate

    r = validate("fp32", "fp32", items=EVAL_SET[:6], max_tokens=16, concurrency=4, rounds=1,
                 cache_dir=_cache())
    assert r.token_agreement == 1.0 and r.identical == 6 and r.score_drop == 0 and r.accepted
    assert r.reference.replies == r.candidate.replies


@pytest.mark.slow
def test_the_validate_command_resolves_profiles_and_exits_by_verdict(tmp_path):
    out = tmp_path / "report.json"
    bad = subprocess.run([sys.executable, "-m", "nimlab", "precision", "validate", "--candidate", "fp4"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "neither a precision" in bad.stderr and "next:" in bad.stderr
    run = subprocess.run([sys.executable, "-m", "nimlab", "precision", "validate", "--candidate", INT8,
                          "--max-score-drop", "1", "--min-token-agreement", "0", "--limit", "6", "--rounds", "1",
                          "--json", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "verdict: ACCEPT int8" in run.stdout and "[precision] throughput round" in run.stderr
    report = json.loads(out.read_text())
    assert len(report["prompts"]) == 6 and report["candidate"]["precision"] == "int8"
    assert report["speedup"] == pytest.approx(report["candidate"]["tokens_per_s"] / report["reference"]["tokens_per_s"])
    # int8 changes tokens, and the thresholds decide, never a fixed answer: the same measurements (rebuilt from the
    # JSON, no second run) judged strictly are rejected for their agreement, leniently accepted, numbers unchanged
    assert 0.3 < report["token_agreement"] < 1.0  # the same model, different arithmetic
    fields = {k: v for k, v in report.items() if k not in ("score_drop", "speedup", "accepted")}  # properties
    measured = Report(**{**fields, "reference": Side(**report["reference"]), "candidate": Side(**report["candidate"]),
                         "thresholds": Thresholds(**report["thresholds"])})
    strict = measured.judged(Thresholds(max_score_drop=0.0, min_token_agreement=0.999))
    assert not strict.accepted and "token agreement" in " ".join(strict.reasons)
    assert "verdict: REJECT int8" in render(strict)
    lenient = strict.judged(Thresholds(max_score_drop=1.0, min_token_agreement=0.0))
    assert lenient.accepted and "verdict: ACCEPT int8" in render(lenient)
    assert (lenient.token_agreement, lenient.candidate.replies) == (strict.token_agreement, strict.candidate.replies)


@pytest.mark.slow
def test_the_fp32_profile_serves_when_named():
    """Lab 7's comparison: force the fp32 hardware-specific profile; learn its tags from the published id."""
    with course_nim(env={"NIM_MODEL_PROFILE": OPT_FP32}) as running:
        meta = httpx.get(running.url + "/v1/metadata", timeout=10).json()
        found = running_profile(running.url)
        assert found.name == OPT_FP32 and found.tags["precision"] == "fp32"
        assert "Model loaded from" in running.log() and "(fp32)" in running.log()
        r = httpx.post(running.url + "/v1/chat/completions", timeout=120, json={
            "model": meta["modelInfo"][0]["shortName"], "max_tokens": 16, "temperature": 0,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]}).json()
        assert r["choices"][0]["message"]["content"]


def _cache() -> Path:
    import os

    return Path(os.environ["NIM_CACHE_PATH"])
