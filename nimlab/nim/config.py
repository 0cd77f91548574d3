"""NIM_* environment variables -> one frozen NimConfig, with a clear error naming the bad variable."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nimlab.engine.weights import default_cache
from nimlab.errors import ConfigError

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "DEFAULT")

# name -> (meaning, default) ; the reference page of the site is generated from this table
VARIABLES: dict[str, tuple[str, str]] = {
    "NIM_MODEL_PROFILE": ("force a profile by id or name instead of automatic selection", "auto"),
    "NIM_SERVED_MODEL_NAME": ("the model name the API serves and /v1/models lists", "from the manifest"),
    "NIM_MAX_MODEL_LEN": ("context length limit (prompt + completion tokens)", "2048"),
    "NIM_LOG_LEVEL": ("log level: TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL (DEFAULT = INFO)", "DEFAULT"),
    "NIM_SERVER_PORT": ("HTTP port of the OpenAI API, health and metrics", "8000"),
    "NIM_CACHE_PATH": ("where the prepared model workspace is cached between starts", "~/.cache/nimlab/nim"),
    "NIM_PEFT_SOURCE": ("folder of LoRA adapters (one sub-folder each); when set only LoRA profiles are considered",
                        "unset"),
    "NIM_PEFT_REFRESH_INTERVAL": ("seconds between re-scans of NIM_PEFT_SOURCE for new, changed or removed adapters",
                                  "unset (scan at start-up only)"),
    "NIM_MAX_LORA_RANK": ("largest LoRA rank accepted; a higher-rank adapter is refused with a message",
                          "the profile's feat_lora_max_rank (32)"),
    "NIM_PASSTHROUGH_ARGS": ("engine arguments that outrank NIM_* variables and the profile (NIM 2.x order); the "
                             "course NIM passes on only --max-num-seqs N and --max-model-len N", "unset"),
    "NIMLAB_NIM_EXTENSIONS": ("course NIM only: `off` serves /v1/metadata with NVIDIA's published fields alone "
                              "(no `nimlab` key), to test tools against the real surface", "on"),
    "NIM_MANIFEST_PATH": ("course NIM only: read another profile manifest (for experiments)", "packaged manifest"),
    "NIMLAB_MAX_QUEUE": ("course NIM only: waiting requests before new ones get HTTP 429", "64"),
}


@dataclass(frozen=True)
class NimConfig:
    model_profile: str | None
    served_model_name: str | None
    max_model_len: int
    log_level: str
    port: int
    cache_path: Path
    peft_source: Path | None
    peft_refresh_interval: int | None
    max_lora_rank: int | None
    manifest_path: Path | None
    max_queue: int
    passthrough_max_num_seqs: int | None = None  # from NIM_PASSTHROUGH_ARGS; outranks the profile's runtime
    extensions: bool = True  # NIMLAB_NIM_EXTENSIONS: the course's own /v1/metadata key

# NIM 2.x hands NIM_PASSTHROUGH_ARGS to vLLM as CLI arguments. The course engine understands these two.
PASSTHROUGH_FLAGS = {"--max-num-seqs": (1, 256), "--max-model-len": (16, 8192)}


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer", hint=f"set {name} to a whole number") from exc
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range [{lo}, {hi}]", hint=f"set {name} between {lo} and {hi}")
    return value


def passthrough(raw: str) -> dict[str, int]:
    """Parse NIM_PASSTHROUGH_ARGS as a shell would (`--flag N` or `--flag=N`) into {flag: value}."""
    try:
        words = shlex.split(raw)
    except ValueError as exc:
        raise ConfigError(f"NIM_PASSTHROUGH_ARGS={raw!r} cannot be split into arguments ({exc})",
                          hint="quote it like a shell command line, e.g. NIM_PASSTHROUGH_ARGS='--max-num-seqs 4'") from exc
    out: dict[str, int] = {}
    i = 0
    while i < len(words):
        flag, _, value = words[i].partition("=")
        if flag not in PASSTHROUGH_FLAGS:
            raise ConfigError(
                f"NIM_PASSTHROUGH_ARGS: the course NIM's engine does not take {words[i]!r}",
                hint=f"use only {' and '.join(PASSTHROUGH_FLAGS)} (a real NIM 2.x hands any vLLM flag to vLLM)")
        if not value:
            i += 1
            if i >= len(words):
                raise ConfigError(f"NIM_PASSTHROUGH_ARGS: {flag} needs a value", hint=f"write e.g. {flag} 4")
            value = words[i]
        lo, hi = PASSTHROUGH_FLAGS[flag]
        out[flag] = _int({flag: value}, flag, 0, lo, hi)
        i += 1
    return out


def from_env(env: Mapping[str, str] | None = None) -> NimConfig:
    env = os.environ if env is None else env
    level = env.get("NIM_LOG_LEVEL", "DEFAULT").strip().upper() or "DEFAULT"
    if level not in LOG_LEVELS:
        raise ConfigError(f"NIM_LOG_LEVEL={level!r} is not a log level", hint=f"use one of {', '.join(LOG_LEVELS)}")
    peft = env.get("NIM_PEFT_SOURCE", "").strip()
    manifest = env.get("NIM_MANIFEST_PATH", "").strip()
    args = passthrough(env.get("NIM_PASSTHROUGH_ARGS", ""))
    extensions = env.get("NIMLAB_NIM_EXTENSIONS", "on").strip().lower() or "on"
    if extensions not in ("on", "off"):
        raise ConfigError(f"NIMLAB_NIM_EXTENSIONS={extensions!r} is neither on nor off", hint="set it to on or off")
    return NimConfig(
        model_profile=env.get("NIM_MODEL_PROFILE", "").strip() or None,
        served_model_name=env.get("NIM_SERVED_MODEL_NAME", "").strip() or None,
        max_model_len=args.get("--max-model-len") or _int(env, "NIM_MAX_MODEL_LEN", 2048, 16, 8192),
        log_level="INFO" if level == "DEFAULT" else level,
        port=_int(env, "NIM_SERVER_PORT", 8000, 1, 65535),
        cache_path=default_cache(env),
        peft_source=Path(peft).expanduser() if peft else None,
        peft_refresh_interval=_int(env, "NIM_PEFT_REFRESH_INTERVAL", 0, 0, 86400) or None,
        max_lora_rank=_int(env, "NIM_MAX_LORA_RANK", 0, 0, 1024) or None,
        manifest_path=Path(manifest) if manifest else None,
        max_queue=_int(env, "NIMLAB_MAX_QUEUE", 64, 1, 100000),
        passthrough_max_num_seqs=args.get("--max-num-seqs"),
        extensions=extensions == "on",
    )
