"""Writes the public and hidden cases of exercise 3 (run by an instructor after editing; not shipped)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from answer import diagnose  # noqa: E402

ID = {  # stable ids as NIM prints them (here sha256 of the name, as in the course manifest)
    "tensorrt_llm-h100-fp8-tp1-pp1-throughput": "46ef27889aed7f26cad41339a83b75844b0df138c544820071bde4c381abc7b8",
    "tensorrt_llm-a100-bf16-tp1-pp1-throughput": "6af56319ec8bd0c7a0abf03bcc5bf1437584c9fa366aaf6b1c30a1736f2f791c",
    "vllm-bf16-tp1-pp1": "45ee721cbf5797913ba0c5b1ccb5d21941987643d6a905a7f2d2f80388082210",
    "vllm-bf16-tp1-pp1-lora": "5f00d8b2affafc45b460a16cdf654d7703d31ac9439fd6a67b342225286fe1b9",
    "tensorrt_llm-h100-bf16-tp1-pp1-throughput-lora": "8c34f0884b5c9b5a3298e3045809449fcf584f75d1d9095ccbf11de05b437c1d",
    "nimlab_inflight-cpu-fp32-tp1-pp1-throughput": "db0d0232575ef16d58c72af17e2526f8dda54c7d09be683e00a595f4fae0c4af",
    "nimlab_generic-fp32-tp1-pp1": "b75bc796fcb439b7e94670c310276532c6c41596f8ed41e2565414a4e9c90276",
}
TAGS = {
    "tensorrt_llm-h100-fp8-tp1-pp1-throughput": dict(feat_lora="false", gpu="H100_SXM", gpu_device="2330:10de",
                                                     llm_engine="tensorrt_llm", pp="1", precision="fp8",
                                                     profile="throughput", tp="1"),
    "tensorrt_llm-a100-bf16-tp1-pp1-throughput": dict(feat_lora="false", gpu="A100_SXM4_80GB", gpu_device="20b2:10de",
                                                      llm_engine="tensorrt_llm", pp="1", precision="bf16",
                                                      profile="throughput", tp="1"),
    "vllm-bf16-tp1-pp1": dict(feat_lora="false", llm_engine="vllm", pp="1", precision="bf16", tp="1"),
    "vllm-bf16-tp1-pp1-lora": dict(feat_lora="true", feat_lora_max_rank="32", llm_engine="vllm", pp="1",
                                   precision="bf16", tp="1"),
    "tensorrt_llm-h100-bf16-tp1-pp1-throughput-lora": dict(feat_lora="true", feat_lora_max_rank="32", gpu="H100_SXM",
                                                           gpu_device="2330:10de", llm_engine="tensorrt_llm",
                                                           pp="1", precision="bf16", profile="throughput", tp="1"),
    "nimlab_inflight-cpu-fp32-tp1-pp1-throughput": dict(cpu="x86_64_avx2", feat_lora="false",
                                                        llm_engine="nimlab_inflight", pp="1", precision="fp32",
                                                        profile="throughput", tp="1"),
    "nimlab_generic-fp32-tp1-pp1": dict(feat_lora="false", llm_engine="nimlab_generic", pp="1", precision="fp32",
                                        tp="1"),
}


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


def course(name: str, forced: bool = False, cpus: str = "[0, 1]") -> str:
    """The course NIM's own start-up log (nimlab.nim.selection.startup_lines)."""
    p = "INFO 2026-11-27 10:20:0{} selection.py:{}] {}"
    out = [p.format(0, 1, "Running NIM without LoRA. Only looking for compatible profiles that do not support LoRA.")]
    if forced:
        out.append(p.format(0, 2, f"Using the profile forced by NIM_MODEL_PROFILE: {ID[name]} ({name})"))
    else:
        valid = [name] if "generic" in name else [name, "nimlab_generic-fp32-tp1-pp1"]
        out.append(p.format(0, 3, f"Detected {len(valid)} compatible profile(s)."))
        out += [p.format(0, 4, f"Valid profile: {ID[v]} ({v}) on CPUs {cpus}") for v in valid]
    out.append(p.format(1, 5, f"Selected profile: {ID[name]} ({name})"))
    out += [p.format(1, 6, f"Profile metadata: {k}: {v}") for k, v in sorted(TAGS[name].items())]
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

PUBLIC = {
    "1.x on H100, TensorRT-LLM engaged": (v1("tensorrt_llm-h100-fp8-tp1-pp1-throughput",
                                             ["tensorrt_llm-h100-fp8-tp1-pp1-throughput", "vllm-bf16-tp1-pp1"]),
                                          None, {"published_tokens_per_s": 2000, "measured_tokens_per_s": 1930}),
    "1.x on an A10G, vLLM selected": (v1("vllm-bf16-tp1-pp1", ["vllm-bf16-tp1-pp1"]), None,
                                      {"published_tokens_per_s": 2000, "measured_tokens_per_s": 760}),
    "1.x, NIM_MODEL_PROFILE names no profile": (ERR_UNKNOWN, None, None),
    "2.x with LoRA adapters on H100": (v2("vllm-bf16-tp1-pp1-lora", lora=True,
                                          extra_tags={"gpu": "H100_SXM", "gpu_device": "2330:10de"}), None, None),
    "course NIM under taskset -c 0": (course("nimlab_generic-fp32-tp1-pp1", cpus="[0]"), metrics(1, 4200),
                                      {"published_tokens_per_s": 70, "measured_tokens_per_s": 22}),
}
HIDDEN = {
    "course NIM on 2 CPUs": (course("nimlab_inflight-cpu-fp32-tp1-pp1-throughput"), metrics(8, 9000),
                             {"published_tokens_per_s": 70, "measured_tokens_per_s": 66}),
    "course NIM forced generic": (course("nimlab_generic-fp32-tp1-pp1", forced=True), metrics(1, 300), None),
    "course NIM forced onto an H100 profile": (ERR_NOT_RUNNABLE, None, None),
    "2.x on an L4: generic vLLM profile": (v2("vllm-bf16-tp1-pp1"), None,
                                            {"published_tokens_per_s": 1500, "measured_tokens_per_s": 610}),
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
