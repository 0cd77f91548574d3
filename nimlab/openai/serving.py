"""Serving over an engine-client seam (vLLM's entrypoints/openai shape): validated OpenAI requests become one
plain `GenerateRequest`; an engine client turns it into `Output`s; this module turns those into OpenAI
responses or SSE events. The course engine (nimlab.nim.serving) and Triton (nimlab.triton.frontend) are the
two engine clients; everything a client sees on the wire is built here, once.

Errors are values (`ServingError`): raised before the 200, they become an HTTP status and an OpenAI error
body (nimlab.openai.app); after the 200, an error event and then [DONE], never a hung stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from nimlab.openai import sse
from nimlab.openai.protocol import (
    AssistantMessage,
    ChatChoice,
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    ServingError,
    Usage,
    error_body,
    new_id,
    now,
)

Kind = Literal["chat", "text"]
FINISHED = ("stop", "length")


@dataclass(frozen=True)
class GenerateRequest:
    """What an engine client is asked to do, free of HTTP and pydantic (vLLM: `to_sampling_params`)."""

    kind: Kind
    model: str
    messages: tuple[tuple[str, str], ...] = ()  # (role, content) as the client sent them (chat)
    prompt: str = ""  # text completions
    max_tokens: int | None = None  # None: as long as the context allows
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    stream: bool = False

    @classmethod
    def of(cls, kind: Kind, req: ChatCompletionRequest | CompletionRequest) -> GenerateRequest:
        common = {"kind": kind, "model": req.model, "max_tokens": req.requested_max_tokens(),
                  "temperature": req.temperature, "top_p": req.top_p, "seed": req.seed, "stop": req.stop_list(),
                  "ignore_eos": req.ignore_eos, "stream": req.stream}
        if isinstance(req, ChatCompletionRequest):
            return cls(messages=tuple((m.role, m.text()) for m in req.messages), **common)
        text = req.prompt_text()
        if not text:
            raise ServingError(400, "prompt must not be empty", param="prompt")
        return cls(prompt=text, **common)


@dataclass(frozen=True)
class Output:
    """One step of a generation as an engine client reports it: new text, and the counts so far."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None  # stop | length on success; anything else is a failure
    error: str | None = None


class EngineClient(Protocol):
    """The seam: what a stack provides so the OpenAI layer can serve it (a fake one makes fast tests)."""

    def check_model(self, model: str) -> None:
        """Raise ServingError(404) unless this server serves `model`."""

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Output]:
        """Admit the request (raising ServingError if it cannot run) and return its outputs, ending with the
        one that carries a finish_reason. Closing the iterator early must cancel the generation."""


def _failure(out: Output) -> str | None:
    if out.error or out.finish_reason not in (None, *FINISHED):
        return out.error or f"generation ended: {out.finish_reason}"
    return None


class OpenAIServing:
    """Chat and text completions over one engine client."""

    def __init__(self, client: EngineClient) -> None:
        self.client = client

    async def create(self, kind: Kind, req: ChatCompletionRequest | CompletionRequest
                     ) -> dict[str, Any] | AsyncIterator[str]:
        """A full response body, or (stream=true) the SSE events; errors before the first output raise."""
        self.client.check_model(req.model)
        outputs = await self.client.generate(GenerateRequest.of(kind, req))
        if not req.stream:
            return await self.full_response(kind, req.model, outputs)
        include = bool(req.stream_options and req.stream_options.include_usage)
        return self.stream(kind, req.model, outputs, include)

    async def full_response(self, kind: Kind, model: str, outputs: AsyncIterator[Output]) -> dict[str, Any]:
        text: list[str] = []
        last: Output | None = None
        try:
            async for out in outputs:
                text.append(out.text)
                last = out
        finally:
            await outputs.aclose()
        if last is None:
            raise ServingError(502, "the engine ended the request without a finish_reason", "internal_error")
        problem = _failure(last)
        if problem:
            raise ServingError(500, problem, "internal_error")
        usage = Usage.of(last.prompt_tokens, last.completion_tokens)
        content = "".join(text)
        if kind == "chat":
            chat = ChatChoice(index=0, message=AssistantMessage(role="assistant", content=content),
                              finish_reason=last.finish_reason, logprobs=None)
            return ChatCompletionResponse(id=new_id("chatcmpl"), object="chat.completion", created=now(),
                                          model=model, choices=[chat], usage=usage).wire()
        choice = CompletionChoice(index=0, text=content, finish_reason=last.finish_reason, logprobs=None)
        return CompletionResponse(id=new_id("cmpl"), object="text_completion", created=now(), model=model,
                                  choices=[choice], usage=usage).wire()

    async def stream(self, kind: Kind, model: str, outputs: AsyncIterator[Output],
                     include_usage: bool) -> AsyncIterator[str]:
        """SSE events: (chat) a role event, one event per text delta, the finish event, the usage event when
        asked for, then [DONE]. A client that goes away closes this generator, which closes `outputs`."""
        rid, created = new_id("chatcmpl" if kind == "chat" else "cmpl"), now()
        obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

        # Events are plain dicts in the shape of ChatCompletionChunk / CompletionChunk (tests parse them back
        # into those models): a model per token would cost ~6x the time on this per-token path.
        def chunk(choices: list[dict[str, Any]], usage: Usage | None = None) -> str:
            body: dict[str, Any] = {"id": rid, "object": obj, "created": created, "model": model, "choices": choices}
            if include_usage:
                body["usage"] = usage.model_dump() if usage is not None else None
            return sse.event(body)

        def choice(text: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
            if kind == "chat":
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else (
                    {"content": text} if text else {})
                return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

        try:
            if kind == "chat":
                yield chunk([choice(None, None, role=True)])
            async for out in outputs:
                problem = _failure(out)
                if problem:
                    yield sse.error_event(error_body(problem, "internal_error"))
                    break
                if out.text:
                    yield chunk([choice(out.text, None)])
                if out.finish_reason is not None:
                    yield chunk([choice(None, out.finish_reason)])
                    if include_usage:
                        yield chunk([], Usage.of(out.prompt_tokens, out.completion_tokens))
        except ServingError as exc:
            yield sse.error_event(exc.body())
        finally:
            await outputs.aclose()
        yield sse.DONE
