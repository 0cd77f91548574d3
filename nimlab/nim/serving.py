"""Serving: turns validated OpenAI requests into engine requests and engine deltas into OpenAI responses.

Errors are values here (ServingError), mapped to HTTP status and an OpenAI error body by the app.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from nimlab.engine import Delta, Engine, GenerationRequest, SamplingParams
from nimlab.engine.chat import encode_chat
from nimlab.errors import EngineError, InvalidRequestError, OverloadedError
from nimlab.nim.adapters import AdapterManager
from nimlab.nim.metrics import NimMetrics
from nimlab.nim.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ServingError,
    error_body,
    new_id,
    now,
)


class OpenAIServing:
    """Chat and text completions over one engine; knows nothing about profiles or hardware."""

    def __init__(self, engine: Engine, served_model_name: str, metrics: NimMetrics,
                 adapters: AdapterManager | None = None) -> None:
        self.engine = engine
        self.tokenizer = engine.tokenizer
        self.model_name = served_model_name
        self.metrics = metrics
        self.adapters = adapters

    # ---- prompt building --------------------------------------------------------------------------
    def chat_prompt_ids(self, req: ChatCompletionRequest) -> list[int]:
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                    for m in req.messages]
        return encode_chat(self.tokenizer, messages)

    def completion_prompt_ids(self, req: CompletionRequest) -> list[int]:
        text = req.prompt_text()
        if not text:
            raise ServingError(400, "prompt must not be empty", param="prompt")
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

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

    def model_names(self) -> list[str]:
        return [self.model_name, *(a.name for a in (self.adapters.adapters if self.adapters else ()))]

    def _params(self, req: ChatCompletionRequest | CompletionRequest, prompt_len: int) -> SamplingParams:
        max_tokens = req.requested_max_tokens()
        if max_tokens is None:
            max_tokens = max(1, self.engine.max_model_len - prompt_len)
        return SamplingParams(
            max_tokens=max_tokens,
            temperature=1.0 if req.temperature is None else req.temperature,
            top_p=1.0 if req.top_p is None else req.top_p,
            seed=req.seed,
            stop=req.stop_list(),
            ignore_eos=req.ignore_eos,
        )

    def _submit(self, prompt_ids: list[int], params: SamplingParams,
                adapter: str | None) -> tuple[GenerationRequest, asyncio.Queue]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Delta] = asyncio.Queue()
        request = GenerationRequest(prompt_ids=prompt_ids, params=params, adapter=adapter,
                                    sink=lambda d: loop.call_soon_threadsafe(queue.put_nowait, d))
        try:
            self.engine.submit(request)
        except InvalidRequestError as exc:
            raise ServingError(400, str(exc), param=exc.param) from exc
        except OverloadedError as exc:
            raise ServingError(429, f"{exc}; {exc.hint}", "rate_limit_exceeded", code="queue_full") from exc
        except EngineError as exc:
            raise ServingError(503, str(exc), "service_unavailable") from exc
        return request, queue

    async def _deltas(self, request: GenerationRequest, queue: asyncio.Queue) -> AsyncIterator[Delta]:
        """Yield deltas until the last; record metrics; free the engine slot if the consumer goes away."""
        start, first = time.monotonic(), None
        last: Delta | None = None
        try:
            while True:
                delta = await queue.get()
                if first is None and delta.token_ids:
                    first = time.monotonic() - start
                last = delta
                yield delta
                if delta.finish_reason is not None:
                    return
        finally:
            request.cancel()
            if last is not None and last.finish_reason in ("stop", "length"):
                self.metrics.observe_request(last.prompt_tokens, last.completion_tokens, first,
                                             time.monotonic() - start, last.finish_reason)

    # ---- chat -------------------------------------------------------------------------------------
    def start_chat(self, req: ChatCompletionRequest) -> tuple[GenerationRequest, asyncio.Queue]:
        adapter = self.adapter_for(req.model)
        ids = self.chat_prompt_ids(req)
        return self._submit(ids, self._params(req, len(ids)), adapter)

    def start_completion(self, req: CompletionRequest) -> tuple[GenerationRequest, asyncio.Queue]:
        adapter = self.adapter_for(req.model)
        ids = self.completion_prompt_ids(req)
        return self._submit(ids, self._params(req, len(ids)), adapter)

    def _shown_model(self, request: GenerationRequest) -> str:
        return request.adapter or self.model_name

    async def full_response(self, kind: str, started: tuple[GenerationRequest, asyncio.Queue]) -> dict[str, Any]:
        text, last = [], None
        async for delta in self._deltas(*started):
            text.append(delta.text)
            last = delta
        assert last is not None
        if last.error or last.finish_reason not in ("stop", "length"):
            raise ServingError(500, last.error or f"generation ended: {last.finish_reason}", "internal_error")
        usage = {"prompt_tokens": last.prompt_tokens, "completion_tokens": last.completion_tokens,
                 "total_tokens": last.prompt_tokens + last.completion_tokens}
        content = "".join(text)
        if kind == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": content},
                      "finish_reason": last.finish_reason, "logprobs": None}
            return {"id": new_id("chatcmpl"), "object": "chat.completion", "created": now(),
                    "model": self._shown_model(started[0]), "choices": [choice], "usage": usage}
        choice = {"index": 0, "text": content, "finish_reason": last.finish_reason, "logprobs": None}
        return {"id": new_id("cmpl"), "object": "text_completion", "created": now(),
                "model": self._shown_model(started[0]), "choices": [choice], "usage": usage}

    async def stream(self, kind: str, started: tuple[GenerationRequest, asyncio.Queue],
                     include_usage: bool) -> AsyncIterator[str]:
        """SSE lines. After the 200 has gone out, a failure is an error event, then [DONE], never a hang."""
        rid, created = new_id("chatcmpl" if kind == "chat" else "cmpl"), now()
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

        def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
            body: dict[str, Any] = {"id": rid, "object": obj, "created": created,
                                    "model": self._shown_model(started[0]), "choices": choices}
            if include_usage:
                body["usage"] = usage
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        def choice(text: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
            if kind == "chat":
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else (
                    {"content": text} if text else {})
                return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

        if kind == "chat":
            yield chunk([choice(None, None, role=True)])
        async for delta in self._deltas(*started):
            if delta.error or (delta.finish_reason not in (None, "stop", "length")):
                err = error_body(delta.error or f"generation ended: {delta.finish_reason}", "internal_error")
                yield f"data: {json.dumps(err)}\n\n"
                break
            if delta.text:
                yield chunk([choice(delta.text, None)])
            if delta.finish_reason is not None:
                yield chunk([choice(None, delta.finish_reason)])
                if include_usage:
                    usage = {"prompt_tokens": delta.prompt_tokens, "completion_tokens": delta.completion_tokens,
                             "total_tokens": delta.prompt_tokens + delta.completion_tokens}
                    yield chunk([], usage)
        yield "data: [DONE]\n\n"
