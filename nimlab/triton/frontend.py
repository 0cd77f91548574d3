"""OpenAI-compatible API over Triton, as Triton's own OpenAI frontend (port 9000) does: the same request and
response shapes as the course NIM, so one OpenAI client switches stacks by changing only `base_url`.

It reaches Triton only through tritonclient (gRPC bi-directional streaming, the one transport that carries
a decoupled model's many responses). Protocol models are the course NIM's (nimlab.nim.protocol); the
serving here is its own: no engine, no tokenizer in this process; the model repository does that work.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from nimlab.nim.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ServingError,
    install_error_handlers,
    new_id,
    now,
)
from nimlab.triton.wire import decode_error

log = logging.getLogger("nimlab.triton.frontend")

# The course NIM's served model name (nimlab/nim/manifest.yaml), so clients switch stacks by base_url alone.
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"

_STATUS = {"invalid_request_error": 400, "rate_limit_exceeded": 429, "service_unavailable": 503,
           "internal_error": 500}


class FrontendError(ServingError):
    """The course NIM's error value, plus decoding of errors that crossed Triton (nimlab.triton.wire)."""

    @classmethod
    def from_triton(cls, message: str) -> FrontendError:
        type_, param, text = decode_error(message)
        return cls(_STATUS.get(type_, 500), text, type_, param)


@dataclass(frozen=True)
class Chunk:
    """One response of the llm_bls model, as plain values."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int


def _tensor(name: str, value: Any, dtype: Any) -> Any:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import np_to_triton_dtype

    arr = np.array([value if isinstance(value, list) else [value]], dtype=dtype)  # leading batch dim of 1
    t = grpcclient.InferInput(name, list(arr.shape), np_to_triton_dtype(arr.dtype))
    t.set_data_from_numpy(arr)
    return t


class TritonLLM:
    """The llm_bls model (or ensemble) over tritonclient.grpc.aio: one shared channel, one stream per request."""

    def __init__(self, url: str, model: str = "llm_bls") -> None:
        self.url, self.model = url, model
        self._client: Any = None

    @property
    def client(self) -> Any:
        """Created on first use, inside the server's event loop (a gRPC aio channel binds to its loop)."""
        if self._client is None:
            import tritonclient.grpc.aio as grpcclient

            self._client = grpcclient.InferenceServerClient(self.url)
        return self._client

    async def ready(self) -> bool:
        try:
            return bool(await self.client.is_server_ready() and await self.client.is_model_ready(self.model))
        except Exception:  # noqa: BLE001 - not ready is the answer, whatever the reason
            return False

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    def inputs(self, *, messages: list[dict[str, str]] | None, prompt: str | None, max_tokens: int | None,
               temperature: float | None, top_p: float | None, seed: int | None, ignore_eos: bool,
               stop: tuple[str, ...], stream: bool) -> list[Any]:
        t = [_tensor("max_tokens", int(max_tokens or 0), np.int32),  # 0: as long as the context allows
             _tensor("ignore_eos", bool(ignore_eos), bool), _tensor("stream", bool(stream), bool)]
        if messages is not None:
            t.append(_tensor("messages", json.dumps(messages).encode(), np.object_))
        else:
            t.append(_tensor("text_input", (prompt or "").encode(), np.object_))
        if temperature is not None:
            t.append(_tensor("temperature", float(temperature), np.float32))
        if top_p is not None:
            t.append(_tensor("top_p", float(top_p), np.float32))
        if seed is not None:
            t.append(_tensor("random_seed", int(seed) % 2**64, np.uint64))
        if stop:
            t.append(_tensor("stop_words", [s.encode() for s in stop], np.object_))
        return t

    async def generate(self, inputs: list[Any]) -> AsyncIterator[Chunk]:
        """Chunks until the one with a finish_reason; a Triton error becomes a FrontendError."""
        from tritonclient.utils import InferenceServerException

        request = {"model_name": self.model, "inputs": inputs, "request_id": new_id("req")}

        async def one():
            yield request

        stream = self.client.stream_infer(inputs_iterator=one())
        try:
            async for result, error in stream:
                if error is not None:
                    raise FrontendError.from_triton(str(error))
                ids = result.as_numpy("output_ids")
                if ids is None:
                    continue
                reason = result.as_numpy("finish_reason").reshape(-1)[0].decode() or None
                yield Chunk(result.as_numpy("text_output").reshape(-1)[0].decode("utf-8"),
                            tuple(int(i) for i in ids.reshape(-1)), reason,
                            int(result.as_numpy("prompt_tokens").reshape(-1)[0]),
                            int(result.as_numpy("completion_tokens").reshape(-1)[0]))
                if reason:
                    return
            raise FrontendError(502, "Triton ended the stream without a finish_reason", "internal_error")
        except InferenceServerException as exc:
            raise FrontendError(503, f"Triton at {self.url} is unavailable: {exc}", "service_unavailable") from exc
        finally:
            stream.cancel()


def _params(req: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    return {"max_tokens": req.requested_max_tokens(), "temperature": req.temperature, "top_p": req.top_p,
            "seed": req.seed, "ignore_eos": req.ignore_eos, "stop": req.stop_list(), "stream": req.stream}


def _messages(req: ChatCompletionRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.text()} for m in req.messages]


def build_app(triton: TritonLLM, served_model_name: str = MODEL_ID) -> FastAPI:
    app = FastAPI(title="nimlab hand-built stack: OpenAI API over Triton")
    started = int(time.time())

    install_error_handlers(app, log)

    def check_model(model: str) -> None:
        if model != served_model_name:
            raise FrontendError(404, f"The model `{model}` does not exist. This server serves "
                                f"`{served_model_name}` (see /v1/models).", "invalid_request_error", "model",
                                "model_not_found")

    @app.get("/v1/health/live")
    async def live() -> dict[str, Any]:
        return {"object": "health.response", "message": "live"}

    @app.get("/v1/health/ready")
    async def ready() -> JSONResponse:
        if await triton.ready():
            return JSONResponse({"object": "health.response", "message": "ready"})
        return JSONResponse({"object": "health.response",
                             "message": f"not ready: Triton at {triton.url} has no ready model {triton.model}"},
                            status_code=503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served_model_name, "object": "model", "created": started,
                                            "owned_by": "nimlab", "root": MODEL_ID, "parent": None,
                                            "triton_model": triton.model}]}

    async def run(kind: str, req: ChatCompletionRequest | CompletionRequest) -> Any:
        check_model(req.model)
        if kind == "chat":
            inputs = triton.inputs(messages=_messages(req), prompt=None, **_params(req))
        else:
            text = req.prompt_text()
            if not text:
                raise FrontendError(400, "prompt must not be empty", param="prompt")
            inputs = triton.inputs(messages=None, prompt=text, **_params(req))
        chunks = triton.generate(inputs)
        if not req.stream:
            return await _full(kind, chunks, served_model_name)
        include = bool(req.stream_options and req.stream_options.include_usage)
        first = await anext(chunks)  # errors before the first chunk are still a plain HTTP error
        return StreamingResponse(_sse(kind, first, chunks, served_model_name, include),
                                 media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(req: ChatCompletionRequest) -> Any:
        return await run("chat", req)

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest) -> Any:
        return await run("text", req)

    @app.on_event("shutdown")
    async def _close() -> None:
        await triton.close()

    return app


def _usage(c: Chunk) -> dict[str, int]:
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens}


async def _full(kind: str, chunks: AsyncIterator[Chunk], model: str) -> dict[str, Any]:
    text, last = [], None
    async for c in chunks:
        text.append(c.text)
        last = c
    assert last is not None
    content = "".join(text)
    if kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": content},
                  "finish_reason": last.finish_reason, "logprobs": None}
        return {"id": new_id("chatcmpl"), "object": "chat.completion", "created": now(), "model": model,
                "choices": [choice], "usage": _usage(last)}
    choice = {"index": 0, "text": content, "finish_reason": last.finish_reason, "logprobs": None}
    return {"id": new_id("cmpl"), "object": "text_completion", "created": now(), "model": model,
            "choices": [choice], "usage": _usage(last)}


async def _sse(kind: str, first: Chunk, rest: AsyncIterator[Chunk], model: str,
               include_usage: bool) -> AsyncIterator[str]:
    """SSE lines; after the 200 a failure is an error event then [DONE], never a hung stream."""
    rid, created = new_id("chatcmpl" if kind == "chat" else "cmpl"), now()
    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"

    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> str:
        body: dict[str, Any] = {"id": rid, "object": obj, "created": created, "model": model, "choices": choices}
        if include_usage:
            body["usage"] = usage
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    def choice(text: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
        if kind == "chat":
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
            return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

    async def all_chunks() -> AsyncIterator[Chunk]:
        yield first
        async for c in rest:
            yield c

    if kind == "chat":
        yield event([choice(None, None, role=True)])
    try:
        async for c in all_chunks():
            if c.text:
                yield event([choice(c.text, None)])
            if c.finish_reason is not None:
                yield event([choice(None, c.finish_reason)])
                if include_usage:
                    yield event([], _usage(c))
    except FrontendError as exc:
        yield f"data: {json.dumps(exc.body())}\n\n"
    finally:
        await rest.aclose()
    yield "data: [DONE]\n\n"


def serve(host: str = "127.0.0.1", port: int = 9000, triton_grpc: str = "127.0.0.1:8002",
          model: str = "llm_bls", served_model_name: str = MODEL_ID) -> int:
    """Run the front end in the foreground until SIGINT/SIGTERM."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(TritonLLM(triton_grpc, model), served_model_name)
    log.info("OpenAI API on http://%s:%d/v1 -> Triton gRPC %s model %s", host, port, triton_grpc, model)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                  timeout_graceful_shutdown=5)).run()
    return 0
