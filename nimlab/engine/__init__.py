"""The one engine both stacks serve: SmolLM2-135M-Instruct on CPU with two real schedules."""

from nimlab.engine.sampling import SamplingParams
from nimlab.engine.scheduler import Completion, Delta, Engine, EngineStats, GenerationRequest
from nimlab.engine.weights import LoadedModel, load_model, locate_gguf

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
