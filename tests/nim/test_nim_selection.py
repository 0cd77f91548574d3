"""Manifest -> hardware -> selection as pure functions, over prepared hardware facts and manifest files."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
from course_profiles import BF16, GEN, GEN_LORA, OPT, OPT_FP32, OPT_LORA

from nimlab.errors import ConfigError, ProfileError
from nimlab.nim import hardware
from nimlab.nim.hardware import GpuInfo, HardwareFacts
from nimlab.nim.manifest import load_manifest
from nimlab.nim.selection import select, startup_lines

LAPTOP = HardwareFacts(arch="x86_64", affinity_cpus=(0, 1), cgroup_cpu_quota=None,
                       cpu_flags=frozenset({"avx", "avx2", "fma"}), memory_total_gib=16, memory_available_gib=12,
                       cgroup_memory_limit_gib=None, gpus=(), gpu_probe="no NVIDIA driver")
H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", "2330:10de", 80.0, 79.0, 0)


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


def test_packaged_manifest_has_stable_ids_and_the_required_kinds(manifest):
    names = [p.name for p in manifest.profiles]
    assert all(p.id == hashlib.sha256(p.name.encode()).hexdigest() for p in manifest.profiles)
    assert {OPT, GEN} <= set(names)
    assert any(n.startswith("tensorrt_llm-h100") for n in names)
    assert any(n.startswith("tensorrt_llm-a100") for n in names)
    assert any(n.startswith("tensorrt_llm-l40s") for n in names)
    assert any(n.startswith("vllm-") for n in names)
    for p in manifest.profiles:
        assert {"llm_engine", "precision", "tp", "pp", "feat_lora"} <= set(p.tags)


def test_two_avx2_cpus_select_the_hardware_specific_int8_profile(manifest):
    sel = select(manifest, LAPTOP)
    assert sel.profile.name == OPT and sel.profile.runtime.schedule == "inflight"
    # NIM 1.x order: hardware-specific before generic, then lower precision first
    assert [v.profile.name for v in sel.candidates] == [OPT, OPT_FP32, GEN]
    assert not sel.fallback
    with_bf16 = select(manifest, replace(LAPTOP, cpu_flags=LAPTOP.cpu_flags | {"avx512_bf16"}))
    assert [v.profile.name for v in with_bf16.candidates] == [OPT, BF16, OPT_FP32, GEN]


@pytest.mark.parametrize("facts", [
    replace(LAPTOP, affinity_cpus=(0,)),                       # taskset -c 0
    replace(LAPTOP, cgroup_cpu_quota=1.0),                     # docker --cpus 1
    replace(LAPTOP, cpu_flags=frozenset({"sse4_2"})),          # an old CPU without AVX2
], ids=["affinity", "cgroup-quota", "no-avx2"])
def test_missing_capability_falls_back_to_generic_silently(manifest, facts):
    sel = select(manifest, facts)
    # the generic profile still batches in flight: a fallback costs engine speed, not scheduling
    assert sel.profile.name == GEN and sel.profile.runtime.schedule == "inflight"
    assert sel.profile.runtime.max_num_seqs == 8 and sel.profile.tags["precision"] == "fp32"
    assert sel.fallback
    lines = startup_lines(sel)
    assert f"Selected profile: {sel.profile.id} ({GEN})" in lines
    assert not any("WARN" in line or "fallback" in line.lower() for line in lines), "real NIM does not warn"


def test_low_memory_makes_compatible_profiles_not_runnable(manifest):
    with pytest.raises(ProfileError, match="compatible with this system"):
        select(manifest, replace(LAPTOP, memory_available_gib=0.5))


def test_a_gpu_profile_matches_an_h100_but_has_no_engine_here(manifest):
    sel = select(manifest, replace(LAPTOP, gpus=(H100,), gpu_probe="1 GPU(s) via NVML"))
    verdict = {v.profile.name: v for v in sel.verdicts}["tensorrt_llm-h100-fp8-tp1-pp1-throughput"]
    assert verdict.compatible and not verdict.runnable and verdict.group == "no-engine"
    assert {v.profile.name: v for v in sel.verdicts}["tensorrt_llm-a100-bf16-tp1-pp1-throughput"].group == \
        "incompatible"
    assert sel.profile.name == OPT


def test_forcing_by_name_or_id_and_the_errors(manifest):
    gen = manifest.find(GEN)
    assert select(manifest, LAPTOP, forced=GEN).profile == gen
    assert select(manifest, LAPTOP, forced=gen.id).forced
    with pytest.raises(ProfileError, match="no matching profile_id or profile description is found in manifest"):
        select(manifest, LAPTOP, forced="does-not-exist")
    with pytest.raises(ProfileError, match="cannot run on this system"):
        select(manifest, LAPTOP, forced="tensorrt_llm-h100-fp8-tp1-pp1-throughput")
    with pytest.raises(ProfileError, match="cannot run on this system: needs 2 usable CPUs"):
        select(manifest, replace(LAPTOP, affinity_cpus=(0,)), forced=OPT)


def test_lora_wish_only_considers_lora_profiles(manifest):
    sel = select(manifest, LAPTOP, lora=True)
    assert sel.profile.name == OPT_LORA
    assert all(v.profile.lora for v in sel.candidates)
    assert startup_lines(sel)[0] == ("Running NIM with LoRA enabled. Only looking for compatible profiles that "
                                     "support LoRA.")
    assert startup_lines(select(manifest, LAPTOP))[0].startswith("Running NIM without LoRA")
    # the LoRA version of the silent fallback: one usable CPU leaves only the generic LoRA profile
    fallback = select(manifest, replace(LAPTOP, affinity_cpus=(0,)), lora=True)
    assert fallback.profile.name == GEN_LORA and fallback.fallback
    without = replace(manifest, profiles=tuple(p for p in manifest.profiles if not p.lora))
    with pytest.raises(ProfileError, match="supports LoRA"):
        select(without, LAPTOP, lora=True)


def test_bad_manifest_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "m.yaml"
    bad.write_text("profiles:\n  - name: x\n    id: nope\n")
    with pytest.raises(ConfigError, match=r"m\.yaml:2: profile 'x' must have id sha256"):
        load_manifest(bad)
    bad.write_text("profiles:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"m\.yaml:\d+:\d+: not valid YAML"):
        load_manifest(bad)
    name = "x"
    bad.write_text(f"profiles:\n  - name: x\n    id: {hashlib.sha256(name.encode()).hexdigest()}\n"
                   "    requires: {min_cores: 2}\n")
    with pytest.raises(ConfigError, match=r"m\.yaml:2: unknown requirement"):
        load_manifest(bad)


def test_cgroup_quota_and_limits_are_read(tmp_path: Path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "memory.max").write_text(str(2 * 1024**3))
    facts = hardware.detect(cgroup_root=tmp_path)
    assert facts.cgroup_cpu_quota == 1.5
    assert facts.usable_cpus == min(1.5, len(facts.affinity_cpus))
    assert facts.cgroup_memory_limit_gib == 2.0
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert hardware.detect(cgroup_root=tmp_path).cgroup_cpu_quota is None


def test_real_machine_facts_are_plausible():
    facts = hardware.detect()
    assert len(facts.affinity_cpus) >= 1 and facts.memory_total_gib > 0
    assert facts.gpus == () or all(g.device_id.endswith(":10de") for g in facts.gpus)


def test_the_generic_fallback_is_what_one_usable_cpu_selects(manifest):
    """Tools (grader, exercise 3's cases) ask selection.generic_fallback instead of spelling a profile name."""
    from dataclasses import replace

    from nimlab.nim.selection import generic_fallback

    fallback = generic_fallback(manifest)
    assert not fallback.optimized and fallback.runtime is not None
    assert select(manifest, replace(LAPTOP, affinity_cpus=(0,))).profile == fallback
    assert generic_fallback(manifest, lora=True).lora
