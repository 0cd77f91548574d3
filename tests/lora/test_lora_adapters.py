"""Adapter folders are checked before anything loads: each broken kind is named with its file and fix.

The folders here are written the way peft writes them (adapter_config.json + a real safetensors file);
only the values differ from a good adapter, one fault at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lora_helpers import BASE, write_adapter

from nimlab.lora.adapters import SMOLLM2_135M, AdapterRejected, check, scan


def rejection(folder: Path, max_rank: int = 32) -> str:
    with pytest.raises(AdapterRejected) as info:
        check(folder, SMOLLM2_135M, max_rank)
    return f"{info.value} | next: {info.value.hint}"


def test_a_well_formed_adapter_passes(tmp_path):
    adapter = check(write_adapter(tmp_path / "house-style"), SMOLLM2_135M, 32)
    assert (adapter.name, adapter.rank, adapter.alpha, adapter.targets) == ("house-style", 8, 16.0, ("q_proj", "v_proj"))


def test_missing_files_are_named(tmp_path):
    a = write_adapter(tmp_path / "a")
    (a / "adapter_config.json").unlink()
    assert "adapter_config.json is missing" in rejection(a)
    b = write_adapter(tmp_path / "b")
    (b / "adapter_model.safetensors").rename(b / "adapter_model.bin")
    msg = rejection(b)
    assert "adapter_model.safetensors is missing" in msg and "convert the .bin" in msg


def test_bad_json_points_at_line_and_column(tmp_path):
    a = write_adapter(tmp_path / "a")
    (a / "adapter_config.json").write_text('{\n  "peft_type": "LORA",\n  "r": 8\n  "lora_alpha": 16\n}')
    assert "adapter_config.json:4:3: not valid JSON" in rejection(a)


def test_an_adapter_for_another_base_is_refused(tmp_path):
    a = write_adapter(tmp_path / "a", base="meta-llama/Llama-3.1-8B-Instruct")
    msg = rejection(a)
    assert "trained for base model 'meta-llama/Llama-3.1-8B-Instruct'" in msg and BASE in msg


def test_a_base_named_by_local_folder_is_accepted(tmp_path):
    a = write_adapter(tmp_path / "a", base="/cache/smollm2-135m-instruct-fp32-v1")
    assert check(a, SMOLLM2_135M, 32).base_model.endswith("fp32-v1")


def test_rank_above_the_limit_is_refused_with_the_variable_to_raise(tmp_path):
    a = write_adapter(tmp_path / "a", rank=64)
    msg = rejection(a, max_rank=32)
    assert "rank 64 is above this NIM's maximum LoRA rank 32" in msg and "NIM_MAX_LORA_RANK" in msg
    assert check(a, SMOLLM2_135M, 64).rank == 64


def test_tensors_that_disagree_with_the_config_rank_are_refused(tmp_path):
    a = write_adapter(tmp_path / "a", rank=8, tensor_rank=16)
    assert "has shape [16, 576], expected [8, 576]" in rejection(a)


def test_tensors_for_a_wider_model_are_refused(tmp_path):
    a = write_adapter(tmp_path / "a", hidden=2048)
    assert "expected [8, 576]" in rejection(a)


def test_unsupported_modules_and_peft_types_are_refused(tmp_path):
    a = write_adapter(tmp_path / "a", targets=("q_proj",))
    cfg = json.loads((a / "adapter_config.json").read_text())
    cfg["target_modules"] = ["q_proj", "embed_tokens"]
    (a / "adapter_config.json").write_text(json.dumps(cfg))
    assert "['embed_tokens'] are not supported" in rejection(a)
    b = write_adapter(tmp_path / "b", peft_type="IA3")
    assert "peft_type is 'IA3', not 'LORA'" in rejection(b)


def test_folder_names_must_be_usable_model_names(tmp_path):
    a = write_adapter(tmp_path / "has space")
    assert "cannot be a model name" in rejection(a)


def test_scan_keeps_the_good_beside_the_bad(tmp_path):
    write_adapter(tmp_path / "good")
    write_adapter(tmp_path / "too-big", rank=64)
    (tmp_path / "empty").mkdir()
    found = scan(tmp_path, SMOLLM2_135M, 32)
    assert [a.name for a in found.adapters] == ["good"]
    assert sorted(p.name for p in found.problems) == ["empty", "too-big"]
    assert found.problem("good") is None and "rank 64" in found.problem("too-big").message


def test_the_check_command_reports_each_folder_and_fails_on_any_problem(tmp_path):
    write_adapter(tmp_path / "good")
    cmd = [sys.executable, "-m", "nimlab", "lora", "check", str(tmp_path)]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ok    good" in ok.stdout
    write_adapter(tmp_path / "wrong-base", base="mistralai/Mistral-7B-v0.1")
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "FAIL  wrong-base" in bad.stdout and "1 adapter(s) would load, 1 would be refused" in bad.stdout
    missing = subprocess.run([sys.executable, "-m", "nimlab", "lora", "check", str(tmp_path / "nope")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "is not a directory" in missing.stderr and "next:" in missing.stderr
