"""Exercise 7 reference solution: which profile NIM would pick for the LoRA wish, which adapters it would
refuse, and whether the middle row of the verdict table (NIM with your adapters) really holds."""

from __future__ import annotations

VERDICTS = ("take_nim", "nim_with_lora", "build")
SUPPORTED_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def select_profile(profiles: list[dict], lora: bool) -> dict | None:
    """NIM's choice: only profiles whose LoRA support matches the wish; optimized before generic; else list order."""
    matching = [p for p in profiles if p["lora"] == lora]
    ranked = sorted(matching, key=lambda p: not p["optimized"])  # stable: list order within each group
    return ranked[0] if ranked else None


def adapter_problems(adapter: dict, base_model: str, max_rank: int | None) -> list[str]:
    problems = []
    if adapter["base_model"] != base_model:
        problems.append("wrong_base")
    if max_rank is not None and adapter["rank"] > max_rank:
        problems.append("rank_too_high")
    if not adapter["target_modules"] or set(adapter["target_modules"]) - set(SUPPORTED_TARGETS):
        problems.append("unsupported_modules")
    return problems


def plan(scenario: dict) -> dict:
    s = scenario
    wants_lora = s["customization"] == "lora"
    in_catalog = s["base_model"] in s["catalog"]
    reasons = []
    if not in_catalog:
        reasons.append("base_not_in_catalog")
    if s["customization"] == "full_finetune":
        reasons.append("custom_weights")
    if s["needs_custom_kernel"]:
        reasons.append("custom_kernel")
    chosen = select_profile(s["profiles"], wants_lora) if in_catalog else None
    if in_catalog:
        if chosen is None:
            reasons.append("no_lora_profile" if wants_lora else "no_profile")
        elif not chosen["optimized"]:
            reasons.append("generic_lora_profile_only" if wants_lora else "no_optimized_profile")
    max_rank = chosen.get("max_lora_rank") if chosen else None
    refused = {}
    for adapter in s["adapters"]:
        problems = adapter_problems(adapter, s["base_model"], max_rank)
        if problems:
            refused[adapter["name"]] = problems
    build = bool(reasons)
    if refused:
        reasons.append("adapters_refused")
    if build:
        verdict = "build"
    elif wants_lora:
        verdict = "nim_with_lora"
        reasons = reasons or ["lora_on_optimized_profile"]
    else:
        verdict, reasons = "take_nim", ["standard_deployment"]
    return {"verdict": verdict, "reasons": reasons, "profile": chosen["name"] if chosen else None,
            "refused": refused}
