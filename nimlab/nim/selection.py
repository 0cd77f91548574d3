"""Profile selection in NIM's order: compatible and runnable first, optimized before generic, then engine,
precision and profile type. Pure functions over (manifest, hardware, wishes) -> Selection; no I/O here.

Real NIM 1.x documents the order as compatibility (GPU type and count) -> backend (TensorRT-LLM before
vLLM) -> precision (lower first) -> ...; NIM documentation for later releases says generic profiles are
chosen only when no hardware-specific one fits. Our tail of the order (throughput before latency, then
name) is our own, stated so it can be tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from nimlab.errors import ProfileError
from nimlab.nim.hardware import HardwareFacts
from nimlab.nim.manifest import Manifest, Profile

ENGINE_ORDER = ("tensorrt_llm", "nimlab_native", "vllm", "sglang", "nimlab_torch")
PRECISION_ORDER = ("nvfp4", "mxfp4", "fp8", "int8", "bf16", "fp16", "fp32")
TYPE_ORDER = ("throughput", "latency", "")


@dataclass(frozen=True)
class Verdict:
    """What the machine says about one profile, with the reasons a learner can read."""

    profile: Profile
    compatible: bool
    runnable: bool
    reasons: tuple[str, ...]
    devices: str  # "GPUs [0]" / "CPUs [0, 1]"

    @property
    def group(self) -> str:
        if self.runnable:
            return "runnable"
        return "low-memory" if self.compatible and "low memory" in " ".join(self.reasons) else (
            "no-engine" if self.compatible else "incompatible")


@dataclass(frozen=True)
class Selection:
    profile: Profile
    verdicts: tuple[Verdict, ...]
    forced: bool
    lora: bool
    candidates: tuple[Verdict, ...]  # runnable profiles that matched the LoRA wish, best first

    @property
    def fallback(self) -> bool:
        """True when a generic profile was chosen although the manifest lists optimized ones."""
        return not self.profile.optimized and any(v.profile.optimized for v in self.verdicts)


def judge(profile: Profile, hw: HardwareFacts) -> Verdict:
    req = profile.requires
    why: list[str] = []
    compatible = True
    devices = f"CPUs {list(hw.affinity_cpus)}"
    if req.gpus:
        gpus = [g for g in hw.gpus if not req.gpu_devices or g.device_id in req.gpu_devices]
        devices = f"GPUs {[g.index for g in gpus[:req.gpus]]}"
        if len(gpus) < req.gpus:
            compatible = False
            want = "/".join(req.gpu_devices) if req.gpu_devices else "NVIDIA"
            why.append(f"needs {req.gpus} {want} GPU(s), found {len(gpus)} ({hw.gpu_probe})")
    if req.min_cpus and hw.usable_cpus < req.min_cpus:
        compatible = False
        quota = f", cgroup quota {hw.cgroup_cpu_quota:g}" if hw.cgroup_cpu_quota is not None else ""
        why.append(f"needs {req.min_cpus:g} usable CPUs, this process may use {hw.usable_cpus:g} "
                   f"(affinity {len(hw.affinity_cpus)}{quota})")
    missing = [f for f in req.cpu_flags if f not in hw.cpu_flags]
    if missing:
        compatible = False
        why.append(f"needs CPU flags {missing}")
    runnable = compatible
    if compatible and req.gpus:
        gpus = [g for g in hw.gpus if not req.gpu_devices or g.device_id in req.gpu_devices][: req.gpus]
        low = [g for g in gpus if g.memory_free_gib < req.min_gpu_memory_gib]
        if low:
            runnable = False
            why.append(f"low memory: needs {req.min_gpu_memory_gib:g} GiB free per GPU")
    if compatible and req.min_memory_gib and hw.usable_memory_gib < req.min_memory_gib:
        runnable = False
        why.append(f"low memory: needs {req.min_memory_gib:g} GiB, {hw.usable_memory_gib:.1f} GiB usable")
    if runnable and profile.runtime is None:
        runnable = False
        why.append("no engine for this profile in the course NIM image (it is listed, not runnable here)")
    return Verdict(profile, compatible, runnable, tuple(why), devices)


def _rank(p: Profile) -> tuple[int, int, int, int, str]:
    def pos(order: tuple[str, ...], value: str) -> int:
        return order.index(value) if value in order else len(order)

    return (
        0 if p.optimized else 1,
        pos(ENGINE_ORDER, p.tags.get("llm_engine", "")),
        pos(PRECISION_ORDER, p.tags.get("precision", "")),
        pos(TYPE_ORDER, p.tags.get("profile", "")),
        p.name,
    )


def select(manifest: Manifest, hw: HardwareFacts, forced: str | None = None, lora: bool = False) -> Selection:
    """Choose the profile to run, or raise ProfileError with NIM's kind of message."""
    verdicts = tuple(judge(p, hw) for p in manifest.profiles)
    by_id = {v.profile.id: v for v in verdicts}
    if forced:
        chosen = manifest.find(forced)
        if chosen is None:
            raise ProfileError(
                f"Environment variable NIM_MODEL_PROFILE is set to {forced}, but no matching profile_id or "
                "profile description is found in manifest.",
                hint="run `nimlab list-model-profiles` and use one of the ids or names it lists",
            )
        v = by_id[chosen.id]
        if not v.runnable:
            raise ProfileError(
                f"NIM_MODEL_PROFILE selects {chosen.label}, which cannot run on this system: {'; '.join(v.reasons)}.",
                hint="unset NIM_MODEL_PROFILE to auto-select, or pick a profile listed as runnable",
            )
        return Selection(chosen, verdicts, True, lora, (v,))
    candidates = sorted((v for v in verdicts if v.runnable and v.profile.lora == lora
                         and v.profile.runtime is not None and v.profile.runtime.auto_select),
                        key=lambda v: _rank(v.profile))
    if not candidates:
        raise ProfileError(
            "Could not find a profile that is compatible with this system"
            + (" and supports LoRA." if lora else "."),
            hint="run `nimlab list-model-profiles` to see why each profile was rejected",
        )
    return Selection(candidates[0].profile, verdicts, False, lora, tuple(candidates))


def generic_fallback(manifest: Manifest, lora: bool = False) -> Profile:
    """The generic profile this image falls back to where no hardware-specific one fits (e.g. one usable
    CPU): the best-ranked generic profile it can run. Tools ask here instead of spelling its name."""
    generic = sorted((p for p in manifest.profiles if not p.optimized and p.lora == lora
                      and p.runtime is not None and p.runtime.auto_select), key=_rank)
    if not generic:
        raise ProfileError(f"the manifest {manifest.path} has no generic profile this image can run",
                           hint="add one without a gpu/cpu tag and with a runtime block (docs/contributing)")
    return generic[0]


def startup_lines(sel: Selection) -> list[str]:
    """The start-up log lines, in the shape real NIM 1.x prints them (see the course's reference page)."""
    lines = []
    if sel.lora:
        lines.append("Running NIM with LoRA enabled. Only looking for compatible profiles that support LoRA.")
    else:
        lines.append("Running NIM without LoRA. Only looking for compatible profiles that do not support LoRA.")
    if sel.forced:
        lines.append(f"Using the profile forced by NIM_MODEL_PROFILE: {sel.profile.label}")
    else:
        lines.append(f"Detected {len(sel.candidates)} compatible profile(s).")
        for v in sel.candidates:
            lines.append(f"Valid profile: {v.profile.label} on {v.devices}")
    lines.append(f"Selected profile: {sel.profile.label}")
    lines.extend(f"Profile metadata: {k}: {sel.profile.tags[k]}" for k in sorted(sel.profile.tags))
    return lines
