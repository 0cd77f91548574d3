"""The course engine behind the OpenAI layer: the engine client (nimlab.openai.serving.EngineClient) that
turns a GenerateRequest into engine requests and engine deltas into Outputs.

Knows nothing about profiles, hardware or the wire: responses and SSE are built by nimlab.openai.serving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from nimlab.engine import Delta, Engine, GenerationRequest, SamplingParams
from nimlab.engine.chat import encode_chat
from nimlab.errors import EngineError, InvalidRequestError, OverloadedError
from nimlab.nim.adapters import AdapterManager
from nimlab.nim.metrics import NimMetrics
from nimlab.openai.protocol import ServingError
from nimlab.openai.serving import GenerateRequest, Output


class CourseEngineClient:
    """Chat and text generation over one in-process engine (and its LoRA adapters)."""

    def __init__(self, engine: Engine, served_model_name: str, metrics: NimMetrics,
                 adapters: AdapterManager | None = None) -> None:
        self.engine = engine
        self.tokenizer = engine.tokenizer
        self.model_name = served_model_name
        self.metrics = metrics
        self.adapters = adapters

    # ---- models -------------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return [self.model_name, *(a.name for a in (self.adapters.adapters if self.adapters else ()))]

    def check_model(self, model: str) -> None:
        self.adapter_for(model)

    def adapter_for(self, model: str) -> str | None:
        """The LoRA adapter a request's `model` names (None = the base model), or a 404 saying why not."""
        if model == self.model_name:
            return None
        if self.adapters is not None:
            if any(a.name == model for a in self.adapters.adapters):
                return model
            problem = self.adapters.problem(model)
            if problem is not None:
                raise ServingError(404, f"The LoRA adapter `{model}` is not loaded: {problem.message}. "
                                   f"Next: {problem.hint}.", "invalid_request_error", "model", "model_not_found")
        served = ", ".join(f"`{m}`" for m in self.model_names())
        raise ServingError(404, f"The model `{model}` does not exist. This server serves {served} "
                           "(see /v1/models).", "invalid_request_error", "model", "model_not_found")

    # ---- prompt and parameters ----------------------------------------------------------------------
    def prompt_ids(self, req: GenerateRequest) -> list[int]:
        if req.kind == "chat":
            messages = [{"role": "system" if role == "developer" else role, "content": content}
                        for role, content in req.messages]
            return encode_chat(self.tokenizer, messages)
        return list(self.tokenizer(req.prompt, add_special_tokens=False)["input_ids"])

    def _params(self, req: GenerateRequest, prompt_len: int) -> SamplingParams:
        max_tokens = req.max_tokens
        if max_tokens is None:
            max_tokens = max(1, self.engine.max_model_len - prompt_len)
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=1.0 if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            seed=req.seed,
            stop=req.stop,
            ignore_eos=req.ignore_eos,
        )

    # ---- generation ---------------------------------------------------------------------------------
    async def generate(self, req: GenerateRequest) -> AsyncIterator[Output]:
        """Submit now (admission errors raise here, before any 200); the iterator streams the outputs."""
        adapter = self.adapter_for(req.model)
        ids = self.prompt_ids(req)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta] = asyncio.Queue()
        request = GenerationRequest(prompt_ids=ids, params=self._params(req, len(ids)), adapter=adapter,
                                    sink=lambda d: loop.call_soon_threadsafe(queue.put_nowait, d))
        try:
            self.engine.submit(request)
        except InvalidRequestError as exc:
            raise ServingError(400, str(exc), param=exc.param) from exc
        except OverloadedError as exc:
            raise ServingError(429, f"{exc}; {exc.hint}", "rate_limit_exceeded", code="queue_full") from exc
        except EngineError as exc:
            raise ServingError(503, str(exc), "service_unavailable") from exc
        return self._outputs(request, queue)

    async def _outputs(self, request: GenerationRequest, queue: asyncio.Queue[Delta]) -> AsyncIterator[Output]:
        """Outputs until the last; record metrics; cancel the engine request if the consumer goes away
        (a client that disconnects closes this generator: the engine frees the slot at its next step)."""
        start, first = time.monotonic(), None
        last: Delta | None = None
        try:
            while True:
                delta = await queue.get()
                if first is None and delta.token_ids:
                    first = time.monotonic() - start
                last = delta
                yield Output(delta.text, delta.prompt_tokens, delta.completion_tokens, delta.finish_reason,
                             delta.error)
                if delta.finish_reason is not None:
                    return
        finally:
            request.cancel()
            if last is not None and last.finish_reason in ("stop", "length"):
                self.metrics.observe_request(last.prompt_tokens, last.completion_tokens, first,
                                             time.monotonic() - start, last.finish_reason)
