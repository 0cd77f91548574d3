"""What the course NIM decided at start-up, held for the API. Importing it costs no torch: start-up
errors (a bad variable, an unknown profile) are reported before the engine is even imported."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nimlab.nim.config import NimConfig
from nimlab.nim.hardware import HardwareFacts
from nimlab.nim.manifest import Manifest
from nimlab.nim.metrics import NimMetrics
from nimlab.nim.selection import Selection

if TYPE_CHECKING:
    from nimlab.nim.serving import CourseEngineClient
    from nimlab.openai.serving import OpenAIServing

API_VERSION = "1.0.0"
WHAT_THIS_IS = ("nimlab course NIM: an educational stand-in for NVIDIA NIM for LLMs that mirrors its operational "
                "surface around SmolLM2-135M-Instruct on CPU. It is not an NVIDIA product.")


@dataclass
class NimState:
    """Everything decided at start-up; the API reads it and never reaches back into selection."""

    config: NimConfig
    manifest: Manifest
    hardware: HardwareFacts
    selection: Selection
    served_model_name: str
    metrics: NimMetrics
    engine_client: CourseEngineClient | None = None
    openai: OpenAIServing | None = None  # the OpenAI layer over engine_client
    load_error: str | None = None
    started: float = field(default_factory=time.time)
    ready_event: threading.Event = field(default_factory=threading.Event)

    @property
    def ready(self) -> bool:
        return self.openai is not None and self.ready_event.is_set()
