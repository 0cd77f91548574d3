"""The one engine both stacks serve: SmolLM2-135M-Instruct on CPU with two real schedules.

Exports resolve on first use (PEP 562): the torch-free modules here (weights paths, precision names, chat
encoding, the light tokenizer) can be imported by the NIM's start-up checks and Triton's tokenizer
processes without paying the seconds torch and transformers take to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "SamplingParams": "nimlab.engine.sampling",
    "Completion": "nimlab.engine.scheduler",
    "Delta": "nimlab.engine.scheduler",
    "Engine": "nimlab.engine.scheduler",
    "EngineStats": "nimlab.engine.scheduler",
    "GenerationRequest": "nimlab.engine.scheduler",
    "LoadedModel": "nimlab.engine.weights",
    "load_model": "nimlab.engine.weights",
    "locate_gguf": "nimlab.engine.weights",
}

if TYPE_CHECKING:
    from nimlab.engine.sampling import SamplingParams
    from nimlab.engine.scheduler import Completion, Delta, Engine, EngineStats, GenerationRequest
    from nimlab.engine.weights import LoadedModel, load_model, locate_gguf


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nimlab.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Completion",
    "Delta",
    "Engine",
    "EngineStats",
    "GenerationRequest",
    "LoadedModel",
    "SamplingParams",
    "load_model",
    "locate_gguf",
]
