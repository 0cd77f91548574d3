"""`list-model-profiles`: system info, then profiles grouped the way real NIM prints them."""

from __future__ import annotations

from nimlab.nim.hardware import HardwareFacts
from nimlab.nim.manifest import Manifest
from nimlab.nim.selection import Verdict, judge

GROUPS = (
    ("runnable", "Compatible with system and runnable:"),
    ("low-memory", "Compatible with system but not runnable due to low memory:"),
    ("no-engine", "Compatible with system but not runnable in the course NIM (no engine in this image):"),
    ("incompatible", "Incompatible with system:"),
)


def system_info(hw: HardwareFacts) -> list[str]:
    if hw.gpus:
        gpus = ", ".join(f"[{g.device_id}] ({g.index}) {g.name} [current utilization: {g.utilization_pct}%]"
                         for g in hw.gpus)
    else:
        gpus = f"<None> ({hw.gpu_probe})"
    quota = f"{hw.cgroup_cpu_quota:g}" if hw.cgroup_cpu_quota is not None else "none"
    mem_limit = f"{hw.cgroup_memory_limit_gib:.1f} GiB" if hw.cgroup_memory_limit_gib is not None else "none"
    flags = " ".join(f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "asimd") if f in hw.cpu_flags)
    return [
        "SYSTEM INFO",
        f"- Free GPUs: {gpus}",
        f"- Usable CPUs: {hw.usable_cpus:g} (affinity {list(hw.affinity_cpus)}, cgroup quota {quota}), "
        f"{hw.arch}, flags: {flags or 'none of note'}",
        f"- Memory: {hw.usable_memory_gib:.1f} GiB usable of {hw.memory_total_gib:.1f} GiB "
        f"(cgroup limit {mem_limit})",
    ]


def render(manifest: Manifest, hw: HardwareFacts, verbose: bool = False) -> str:
    verdicts = [judge(p, hw) for p in manifest.profiles]
    lines = system_info(hw) + ["MODEL PROFILES"]
    for key, title in GROUPS:
        group = [v for v in verdicts if v.group == key]
        if key in ("low-memory", "no-engine") and not group:
            continue
        lines.append(f"- {title}" + ("" if group else " <None>"))
        lines.extend(_row(v, verbose or key != "runnable") for v in group)
    lora = [v for v in verdicts if v.profile.lora]
    lines.append("- With LoRA support:" + ("" if lora else " <None>"))
    lines.extend(_row(v, False) for v in lora)
    return "\n".join(lines)


def _row(v: Verdict, why: bool) -> str:
    kind = "optimized" if v.profile.optimized else "generic"
    row = f"  - {v.profile.label} [{kind}]"
    if v.runnable and v.profile.runtime is not None and not v.profile.runtime.auto_select:
        row += " [opt-in: runs only when NIM_MODEL_PROFILE names it]"
    if why and v.reasons:
        row += f"\n      why: {'; '.join(v.reasons)}"
    return row
