"""Writes the public and hidden cases of exercise 3 (run by an instructor after editing; not shipped)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from answer import diagnose  # noqa: E402

from nimlab.nim.hardware import HardwareFacts  # noqa: E402
from nimlab.nim.manifest import load_manifest  # noqa: E402
from nimlab.nim.selection import generic_fallback, select  # noqa: E402

MANIFEST = load_manifest()  # ids and tags as the course's list-model-profiles prints them (ids = sha256(name))
ID = {p.name: p.id for p in MANIFEST.profiles}
TAGS = {p.name: dict(p.tags) for p in MANIFEST.profiles}
# The course NIM's choices, as its own selection makes them on a 2-CPU AVX2 laptop without a GPU.
LAPTOP = HardwareFacts(arch="x86_64", affinity_cpus=(0, 1), cgroup_cpu_quota=None,
                       cpu_flags=frozenset({"avx", "avx2", "fma"}), memory_total_gib=16, memory_available_gib=12,
                       cgroup_memory_limit_gib=None, gpus=(), gpu_probe="no NVIDIA driver")
ON_LAPTOP = select(MANIFEST, LAPTOP)
OPTIMIZED = ON_LAPTOP.profile.name  # auto-selected on >= 2 usable AVX2 CPUs
VALID_ON_LAPTOP = [v.profile.name for v in ON_LAPTOP.candidates]  # its "Valid profile:" lines, best first
GENERIC = generic_fallback(MANIFEST).name  # what one usable CPU falls back to


def v1(name: str, valid: list[str], lora: bool = False, forced: bool = False, devices: str = "GPUs [0]") -> str:
    """A NIM 1.x-shaped start-up log (ngc_profile.py / ngc_injector.py lines)."""
    p = "INFO 2025-03-04 09:14:0{} {}] {}"
    out = [p.format(1, "launch.py:47", "NIM LLM API version 1.0.0")]
    out.append(p.format(2, "ngc_profile.py:222", (
        "Running NIM with LoRA enabled. Only looking for compatible profiles that support LoRA." if lora else
        "Running NIM without LoRA. Only looking for compatible profiles that do not support LoRA.")))
    if forced:
        out.append(p.format(2, "ngc_injector.py:98", f"Using the profile forced by NIM_MODEL_PROFILE: {ID[name]} ({name})"))
    else:
        out.append(p.format(2, "ngc_profile.py:224", f"Detected {len(valid)} compatible profile(s)."))
        out += [p.format(3, "ngc_injector.py:120", f"Valid profile: {ID[v]} ({v}) on {devices}") for v in valid]
    out.append(p.format(4, "ngc_injector.py:174", f"Selected profile: {ID[name]} ({name})"))
    out += [p.format(4, "ngc_injector.py:179", f"Profile metadata: {k}: {v}") for k, v in sorted(TAGS[name].items())]
    out.append(p.format(5, "ngc_injector.py:199", "Preparing model workspace..."))
    return "\n".join(out) + "\n"


def v2(name: str, lora: bool = False, extra_tags: dict[str, str] | None = None) -> str:
    """A NIM 2.x-shaped start-up log: vLLM is the only backend; a profile without a gpu tag is generic."""
    tags = {**TAGS[name], **(extra_tags or {})}
    p = "(APIServer pid=74) INFO 2026-01-15 10:02:1{} [nim_llm.profiles:{}] {}"
    out = [p.format(0, 41, "NIM LLM 2.0.3 (vLLM backend)")]
    if lora:
        out.append(p.format(1, 57, "LoRA enabled (NIM_PEFT_SOURCE=/opt/nim/loras): selecting profiles with feat_lora"))
    out.append(p.format(2, 88, f"Selected profile: {ID[name]} ({name})"))
    out += [p.format(2, 90, f"Profile metadata: {k}: {v}") for k, v in sorted(tags.items())]
    out.append("(APIServer pid=74) INFO:     Started server process [74]")
    out.append("(APIServer pid=74) INFO:     Application startup complete.")
    return "\n".join(out) + "\n"


def course(name: str, forced: bool = False, cpus: str = "[0, 1]", max_num_seqs: int | None = None) -> str:
    """The course NIM's own start-up log (nimlab.nim.selection.startup_lines, then nimlab.nim.server's lines)."""
    p = "INFO 2026-11-27 10:20:0{} selection.py:{}] {}"
    out = [p.format(0, 1, "Running NIM without LoRA. Only looking for compatible profiles that do not support LoRA.")]
    if forced:
        out.append(p.format(0, 2, f"Using the profile forced by NIM_MODEL_PROFILE: {ID[name]} ({name})"))
    else:
        valid = [name] if name == GENERIC else VALID_ON_LAPTOP
        out.append(p.format(0, 3, f"Detected {len(valid)} compatible profile(s)."))
        out += [p.format(0, 4, f"Valid profile: {ID[v]} ({v}) on CPUs {cpus}") for v in valid]
    out.append(p.format(1, 5, f"Selected profile: {ID[name]} ({name})"))
    out += [p.format(1, 6, f"Profile metadata: {k}: {v}") for k, v in sorted(TAGS[name].items())]
    s = "INFO 2026-11-27 10:20:0{} server.py:{}] {}"
    if max_num_seqs is not None:
        out.append(s.format(1, 65, f"NIM_PASSTHROUGH_ARGS overrides the profile: max_num_seqs 8 -> {max_num_seqs}"))
    out.append(s.format(2, 72, "Preparing model workspace..."))
    return "\n".join(out) + "\n"


def metrics(max_running: int, gen_tokens: int) -> str:
    return (f"# HELP num_request_max Most requests the engine runs at once\n# TYPE num_request_max gauge\n"
            f"num_request_max {max_running:.1f}\n# TYPE num_requests_running gauge\nnum_requests_running 1.0\n"
            f"# TYPE generation_tokens_total counter\ngeneration_tokens_total {gen_tokens:.1f}\n")


ERR_UNKNOWN = ("INFO 2025-03-04 09:14:02 ngc_profile.py:222] Running NIM without LoRA. Only looking for compatible "
               "profiles that do not support LoRA.\nERROR 2025-03-04 09:14:02 ngc_injector.py:110] Environment "
               "variable NIM_MODEL_PROFILE is set to llama-3-70b-fast, but no matching profile_id or profile "
               "description is found in manifest.\n")
ERR_NOT_RUNNABLE = ("ERROR 2026-11-27 10:20:00 selection.py:9] NIM_MODEL_PROFILE selects "
                    f"{ID['tensorrt_llm-h100-fp8-tp1-pp1-throughput']} (tensorrt_llm-h100-fp8-tp1-pp1-throughput), "
                    "which cannot run on this system: needs 1 2330:10de GPU(s), found 0 (no NVIDIA driver).\n")

H100_FP8, L40S_FP8 = "tensorrt_llm-h100-fp8-tp1-pp1-throughput", "tensorrt_llm-l40s-fp8-tp1-pp1-throughput"
PUBLIC = {
    "1.x on H100, TensorRT-LLM engaged": (v1(H100_FP8, [H100_FP8, "vllm-bf16-tp1-pp1"]),
                                          None, {"published_tokens_per_s": 2000, "measured_tokens_per_s": 1930}),
    "1.x on H100, vLLM chosen although TensorRT-LLM was valid": (
        v1("vllm-bf16-tp1-pp1", [H100_FP8, "vllm-bf16-tp1-pp1"]), None,
        {"published_tokens_per_s": 2000, "measured_tokens_per_s": 820}),
    "1.x on an A10G, vLLM selected": (v1("vllm-bf16-tp1-pp1", ["vllm-bf16-tp1-pp1"]), None,
                                      {"published_tokens_per_s": 2000, "measured_tokens_per_s": 760}),
    "1.x, NIM_MODEL_PROFILE names no profile": (ERR_UNKNOWN, None, None),
    "2.x with LoRA adapters on H100": (v2("vllm-bf16-tp1-pp1-lora", lora=True,
                                          extra_tags={"gpu": "H100_SXM", "gpu_device": "2330:10de"}), None, None),
    "course NIM under taskset -c 0": (course(GENERIC, cpus="[0]"), metrics(8, 4200),
                                      {"published_tokens_per_s": 70, "measured_tokens_per_s": 31}),
}
HIDDEN = {
    "course NIM on 2 CPUs": (course(OPTIMIZED), metrics(8, 9000),
                             {"published_tokens_per_s": 70, "measured_tokens_per_s": 66}),
    "course NIM forced generic": (course(GENERIC, forced=True), metrics(8, 300), None),
    "course NIM with its batch size forced to one": (course(OPTIMIZED, max_num_seqs=1), metrics(1, 2100),
                                                     {"published_tokens_per_s": 70, "measured_tokens_per_s": 12}),
    "course NIM forced onto an H100 profile": (ERR_NOT_RUNNABLE, None, None),
    "1.x on L40S, vLLM chosen although TensorRT-LLM was valid": (
        v1("vllm-bf16-tp1-pp1", ["vllm-bf16-tp1-pp1", L40S_FP8]), None, None),
    "2.x on an L4: generic vLLM profile": (v2("vllm-bf16-tp1-pp1"), None,
                                            {"published_tokens_per_s": 1500, "measured_tokens_per_s": 610}),
    "2.x on H100: optimized vllm profile": (v2("vllm-bf16-tp1-pp1", extra_tags={"gpu": "H100_SXM",
                                                                                "gpu_device": "2330:10de"}),
                                            None, {"published_tokens_per_s": 1500, "measured_tokens_per_s": 1460}),
    "1.x LoRA on an A10G: generic LoRA profile": (v1("vllm-bf16-tp1-pp1-lora", ["vllm-bf16-tp1-pp1-lora"], lora=True),
                                                  None, None),
    "1.x on A100, engaged but under the benchmark": (v1("tensorrt_llm-a100-bf16-tp1-pp1-throughput",
                                                        ["tensorrt_llm-a100-bf16-tp1-pp1-throughput"]),
                                                     None, {"published_tokens_per_s": 2000, "measured_tokens_per_s": 1100}),
    "1.x forced vLLM on an H100": (v1("vllm-bf16-tp1-pp1", [], forced=True), None, None),
}


def tests(cases: dict) -> list[dict]:
    out = []
    for label, (log, met, bench) in cases.items():
        call = {"function": "diagnose", "args": [log, met, bench]}
        want = diagnose(log, met, bench)
        out.append({"name": f"{label}: what happened", "points": 2, "check": "finding", "call": call, "expect": want})
        out.append({"name": f"{label}: the fix", "points": 1, "check": "fix", "call": call, "expect": want})
        if want["profile"]:
            out.append({"name": f"{label}: selected profile", "points": 1, "check": "profile", "call": call,
                        "expect": want})
        if "LoRA" in log or "lora" in log:
            out.append({"name": f"{label}: LoRA", "points": 1, "check": "lora", "call": call, "expect": want})
        if bench:
            out.append({"name": f"{label}: against the benchmark", "points": 1, "check": "below_benchmark",
                        "call": call, "expect": want})
        if want["fix"] == "pin_profile":
            out.append({"name": f"{label}: the profile to pin", "points": 1, "check": "pin", "call": call,
                        "expect": want})
        if met:
            out.append({"name": f"{label}: metrics", "points": 1, "check": "one_at_a_time", "call": call,
                        "expect": want})
    return out


if __name__ == "__main__":
    head = "# Generated by solutions/03-diagnose-startup/make_cases.py; edit that, not this.\n"
    (HERE.parent.parent / "exercises" / HERE.name / "public_cases.yaml").write_text(
        head + yaml.safe_dump(tests(PUBLIC), sort_keys=False, width=120))
    (HERE / "hidden_cases.yaml").write_text(head + yaml.safe_dump(tests(HIDDEN), sort_keys=False, width=120))
    for label, (log, met, bench) in {**PUBLIC, **HIDDEN}.items():
        print(label, "->", diagnose(log, met, bench))
