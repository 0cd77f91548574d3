"""Start-up behaviour of the real service: fallback under a restricted CPU set, forcing, and clear failures."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from course_profiles import GEN, OPT

from nimlab.lab.launch import course_nim, free_port


def nimlab(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nimlab", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_one_usable_cpu_selects_the_generic_profile_and_logs_it():
    with course_nim(cpus="0") as nim:
        meta = httpx.get(nim.url + "/v1/metadata").json()
        assert meta["nimlab"]["selectedModelProfileName"] == GEN
        assert meta["nimlab"]["profileForced"] is False
        log = nim.log()
        assert "Detected 1 compatible profile(s)." in log
        assert f"Selected profile: {meta['selectedModelProfileId']} ({GEN})" in log
        # how a learner reads the tags on a real NIM: the start-up lines (no hardware tag = generic)
        assert "Profile metadata: llm_engine: nimlab_torch" in log and "Profile metadata: cpu:" not in log
        assert "max_num_seqs=8" in log  # the fallback still batches
        # the lesson: it still answers, correctly
        r = httpx.post(nim.url + "/v1/chat/completions", timeout=120, json={
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct", "temperature": 0, "max_tokens": 16,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]})
        assert "Paris" in r.json()["choices"][0]["message"]["content"]


def test_unknown_forced_profile_fails_before_opening_a_port():
    port = free_port()
    out = nimlab("serve", "--host", "127.0.0.1", "--port", str(port), env={"NIM_MODEL_PROFILE": "fast-please"})
    assert out.returncode == 1
    assert ("NIM_MODEL_PROFILE is set to fast-please, but no matching profile_id or profile description is "
            "found in manifest") in out.stderr
    assert "next: run `nimlab list-model-profiles`" in out.stderr


def test_forcing_a_profile_this_machine_cannot_run_fails_clearly():
    out = nimlab("serve", "--port", str(free_port()),
                 env={"NIM_MODEL_PROFILE": "tensorrt_llm-h100-fp8-tp1-pp1-throughput"})
    assert out.returncode == 1 and "cannot run on this system: needs 1 2330:10de GPU(s)" in out.stderr


def test_forcing_the_optimized_profile_on_one_cpu_fails_clearly():
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "nimlab", "serve", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "NIM_MODEL_PROFILE": OPT})
    assert out.returncode == 1 and "needs 2 usable CPUs, this process may use 1" in out.stderr


@pytest.mark.parametrize(("var", "value", "message"), [
    ("NIM_MAX_MODEL_LEN", "lots", "NIM_MAX_MODEL_LEN='lots' is not an integer"),
    ("NIM_PASSTHROUGH_ARGS", "--tensor-parallel-size 2", "the course NIM's engine does not take '--tensor-parallel-size'"),
    ("NIM_PASSTHROUGH_ARGS", "--max-num-seqs", "--max-num-seqs needs a value"),
    ("NIM_PASSTHROUGH_ARGS", "--max-num-seqs 0", "--max-num-seqs=0 is out of range"),
    ("NIMLAB_NIM_EXTENSIONS", "maybe", "NIMLAB_NIM_EXTENSIONS='maybe' is neither on nor off"),
    ("NIM_LOG_LEVEL", "LOUD", "NIM_LOG_LEVEL='LOUD' is not a log level"),
    ("NIM_SERVER_PORT", "70000", "NIM_SERVER_PORT=70000 is out of range"),
])
def test_bad_variables_name_the_variable(var, value, message):
    out = nimlab("serve", env={var: value})
    assert out.returncode == 1 and message in out.stderr and "next:" in out.stderr


def test_list_model_profiles_groups_like_nim():
    out = nimlab("list-model-profiles")
    assert out.returncode == 0
    text = out.stdout
    assert text.startswith("SYSTEM INFO\n- Free GPUs:")
    runnable = text.split("- Compatible with system and runnable:")[1].split("- Incompatible with system:")[0]
    assert OPT in runnable and GEN in runnable and "tensorrt_llm" not in runnable
    incompatible = text.split("- Incompatible with system:")[1].split("- With LoRA support:")[0]
    assert "tensorrt_llm-h100-fp8-tp1-pp1-throughput" in incompatible and "why: needs 1 2330:10de GPU(s)" in incompatible
    assert "vllm-bf16-tp1-pp1-lora" in text.split("- With LoRA support:")[1]
    one_cpu = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "nimlab", "list-model-profiles"],
                             capture_output=True, text=True, timeout=60).stdout
    runnable = one_cpu.split("- Compatible with system and runnable:")[1].split("- Incompatible with system:")[0]
    assert GEN in runnable and OPT not in runnable
    assert "needs 2 usable CPUs, this process may use 1 (affinity 1)" in one_cpu


@pytest.mark.slow
def test_port_in_use_is_a_clear_error(nim_optimized):
    """A second NIM on the session's running NIM's port (no NIM started for this test alone)."""
    port = nim_optimized.url.rsplit(":", 1)[1]
    out = nimlab("serve", "--host", "127.0.0.1", "--port", port, timeout=120)
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert httpx.get(nim_optimized.url + "/v1/health/ready").status_code == 200  # the first one is unharmed
