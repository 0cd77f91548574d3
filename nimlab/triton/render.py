"""Fill the model repository's `${placeholders}` from a named preset: the readable cousin of TensorRT-LLM's
tools/fill_template.py (which runs string.Template.safe_substitute over one file at a time).

    nimlab triton render --preset untuned --out /tmp/repo --set llm_instance_count=2

Unlike safe_substitute, a placeholder without a value is an error naming file:line, so a forgotten knob
never reaches tritonserver as a literal "${...}".
"""

from __future__ import annotations

import shutil
import string
from pathlib import Path
from typing import Any

from nimlab.errors import ConfigError

TEMPLATE_DIR = Path(__file__).parent / "model_repository"
MODELS = ("preprocessing", "llm", "postprocessing", "ensemble", "llm_bls")

# Every knob a preset sets. Names follow TensorRT-LLM's fill_template keys where one exists.
KNOBS: dict[str, str] = {
    "max_batch_size": "Triton max_batch_size of every model (TensorRT-LLM: triton_max_batch_size)",
    "decoupled_mode": "llm streams one response per token (True) or must answer once (False: streaming breaks)",
    "llm_dynamic_batching": "Triton gathers llm requests into batches (True/False)",
    "llm_max_queue_delay_microseconds": "how long Triton may wait to fill an llm batch",
    "prepost_dynamic_batching": "dynamic batching for preprocessing and postprocessing (True/False)",
    "prepost_max_queue_delay_microseconds": "their queue delay",
    "llm_instance_count": "copies of the llm model (each its own process, engine and ~1 GB of weights)",
    "preprocessing_instance_count": "copies of preprocessing",
    "postprocessing_instance_count": "copies of postprocessing",
    "bls_instance_count": "copies of llm_bls",
    "batching_strategy": "inflight_fused_batching (continuous batching) or V1 (static batching: no request "
                         "joins a running batch)",
    "precision": "the engine's precision: fp32, or int8 (W8A8, the course NIM's optimized profile)",
    "preallocated_kv": "true: the native engine (fused decode step, KV cache in blocks, as the NIM's optimized "
                       "profiles); false: transformers' forward with a KV cache grown by copying",
    "max_num_seqs": "the engine's in-flight batch cap",
    "kv_cache_tokens": "the engine's KV pool, in tokens",
    "max_queue_size": "requests the engine queues before answering rate_limit_exceeded",
    "max_model_len": "context length the engine accepts (prompt + max_tokens)",
    "engine_threads": "torch threads per llm instance (1 leaves a core for Triton and the front end)",
    "cache_dir": "where the dequantized weights are cached (empty: NIM_CACHE_PATH, shared with the course NIM)",
}

PRESETS: dict[str, dict[str, Any]] = {
    # What the lesson calls the tuned hand-built stack: the same engine as the course NIM's optimized profile
    # (int8, in-flight batching), as a hand-built TensorRT-LLM engine can be built in FP8 like NIM's.
    "tuned": {
        "max_batch_size": 8,
        "decoupled_mode": True,
        "llm_dynamic_batching": True,
        "llm_max_queue_delay_microseconds": 10000,
        "prepost_dynamic_batching": True,
        "prepost_max_queue_delay_microseconds": 0,
        "llm_instance_count": 1,
        "preprocessing_instance_count": 1,
        "postprocessing_instance_count": 1,
        "bls_instance_count": 1,
        "batching_strategy": "inflight_fused_batching",
        "max_num_seqs": 8,
        "kv_cache_tokens": 16384,
        "max_queue_size": 64,
        "max_model_len": 2048,
        "engine_threads": 1,
        "cache_dir": "",
        "precision": "int8",
        "preallocated_kv": True,
    },
    # Out of the box with nothing turned: one instance, no dynamic batching, V1 static batching with a batch
    # cap of one (so one request at a time), the default fp32 engine.
    "untuned": {
        "max_batch_size": 1,
        "decoupled_mode": True,
        "llm_dynamic_batching": False,
        "llm_max_queue_delay_microseconds": 0,
        "prepost_dynamic_batching": False,
        "prepost_max_queue_delay_microseconds": 0,
        "llm_instance_count": 1,
        "preprocessing_instance_count": 1,
        "postprocessing_instance_count": 1,
        "bls_instance_count": 1,
        "batching_strategy": "V1",
        "max_num_seqs": 1,
        "kv_cache_tokens": 8192,
        "max_queue_size": 64,
        "max_model_len": 2048,
        "engine_threads": 1,
        "cache_dir": "",
        "precision": "fp32",
        "preallocated_kv": False,
    },
}


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, not {value!r}")


def _dynamic_batching(on: bool, delay_us: Any, who: str) -> str:
    if not on:
        return f"# dynamic_batching is off for {who}: every execute() gets exactly one request"
    return f"dynamic_batching {{ max_queue_delay_microseconds: {int(delay_us)} }}"


def preset_values(preset: str = "tuned", overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """A preset with overrides applied; unknown names are errors (a typo must not silently do nothing)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}", hint=f"use one of: {', '.join(PRESETS)}")
    values = dict(PRESETS[preset])
    for key, value in (overrides or {}).items():
        if key not in KNOBS:
            raise ConfigError(f"unknown knob {key!r}", hint=f"knobs: {', '.join(KNOBS)}")
        values[key] = value
    return values


def placeholders(values: dict[str, Any]) -> dict[str, str]:
    """Preset values -> the text each ${placeholder} becomes."""
    llm_db = _bool(values["llm_dynamic_batching"], "llm_dynamic_batching")
    pp_db = _bool(values["prepost_dynamic_batching"], "prepost_dynamic_batching")
    subst = {k: str(v) for k, v in values.items()}
    subst["decoupled_mode"] = "True" if _bool(values["decoupled_mode"], "decoupled_mode") else "False"
    subst["preallocated_kv"] = "true" if _bool(values.get("preallocated_kv", False), "preallocated_kv") else "false"
    subst["llm_dynamic_batching"] = _dynamic_batching(llm_db, values["llm_max_queue_delay_microseconds"], "llm")
    subst["preprocessing_dynamic_batching"] = _dynamic_batching(
        pp_db, values["prepost_max_queue_delay_microseconds"], "preprocessing")
    subst["postprocessing_dynamic_batching"] = _dynamic_batching(
        pp_db, values["prepost_max_queue_delay_microseconds"], "postprocessing")
    return subst


def fill(text: str, subst: dict[str, str], where: str = "<text>") -> str:
    """string.Template.substitute, with a missing placeholder reported as file:line:column."""
    try:
        return string.Template(text).substitute(subst)
    except KeyError as exc:
        name = exc.args[0]
        for lineno, line in enumerate(text.splitlines(), 1):
            col = line.find("${" + name + "}")
            if col < 0:
                col = line.find("$" + name)
            if col >= 0:
                raise ConfigError(f"{where}:{lineno}:{col + 1}: no value for placeholder ${{{name}}}",
                                  hint="add it to the preset or pass --set NAME=VALUE") from exc
        raise ConfigError(f"{where}: no value for placeholder ${{{name}}}") from exc
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def render(out_dir: Path, preset: str = "tuned", overrides: dict[str, str] | None = None,
           template_dir: Path = TEMPLATE_DIR) -> Path:
    """Write a loadable repository to `out_dir` (replacing what is there); return `out_dir`."""
    subst = placeholders(preset_values(preset, overrides))
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for model_dir in sorted(p for p in template_dir.iterdir() if (p / "config.pbtxt").is_file()):
        target = out_dir / model_dir.name
        shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (target / "1").mkdir(exist_ok=True)  # an ensemble's version folder is empty, and git keeps no empty folder
        cfg = model_dir / "config.pbtxt"
        (target / "config.pbtxt").write_text(fill(cfg.read_text(), subst, str(cfg)))
    return out_dir


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects NAME=VALUE, not {item!r}")
        out[key.strip()] = value.strip()
    return out
