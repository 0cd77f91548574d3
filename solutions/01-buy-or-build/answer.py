"""Exercise 1 reference solution: the chapter's buy-or-build rule, in its stated order."""

from __future__ import annotations

VERDICTS = ("take_nim", "nim_with_lora", "build", "build_portable", "build_or_negotiate")


def classify(scenario: dict) -> dict:
    s = scenario
    reasons = []
    if s["must_run_off_nvidia"]:
        reasons.append("non_nvidia_hardware")
    if not s["model_in_catalog"]:
        reasons.append("model_not_in_catalog")
    if s["customization"] == "full_finetune":
        reasons.append("custom_weights")
    if s["needs_custom_quantization"]:
        reasons.append("custom_quantization")
    if s["needs_custom_topology"]:
        reasons.append("custom_topology")
    if not s["gpu_has_optimized_profile"]:
        reasons.append("no_optimized_profile_for_gpu")
    if s["licence_cost_per_year"] > s["engineering_cost_saved_per_year"]:
        reasons.append("licence_exceeds_savings")
    build = {"model_not_in_catalog", "custom_weights", "custom_quantization", "custom_topology",
             "no_optimized_profile_for_gpu"}
    if "non_nvidia_hardware" in reasons:
        verdict = "build_portable"
    elif build & set(reasons):
        verdict = "build"
    elif "licence_exceeds_savings" in reasons:
        verdict = "build_or_negotiate"
    elif s["customization"] == "lora":
        verdict, reasons = "nim_with_lora", ["lora_on_catalogued_base"]
    else:
        verdict, reasons = "take_nim", ["standard_deployment"]
    return {"verdict": verdict, "reasons": reasons}
