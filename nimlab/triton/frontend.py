"""OpenAI-compatible API over Triton, as Triton's own OpenAI frontend (port 9000) does: the same request and
response shapes as the course NIM, so one OpenAI client switches stacks by changing only `base_url`.

It reaches Triton only through tritonclient (gRPC bi-directional streaming, the one transport that carries
a decoupled model's many responses). `TritonLLM` is this stack's engine client for the shared OpenAI layer
(nimlab.openai): protocol, responses and SSE are the same code the course NIM serves with; no engine and no
tokenizer in this process (the model repository does that work). A client that disconnects closes the
output iterator, which cancels the gRPC stream; Triton then marks the request cancelled and the models stop.
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

from nimlab.openai.app import build_app as build_openai_app
from nimlab.openai.protocol import ServingError, new_id
from nimlab.openai.serving import GenerateRequest, OpenAIServing, Output
from nimlab.triton.wire import decode_error

log = logging.getLogger("nimlab.triton.frontend")

# The course NIM's served model name (nimlab/nim/manifest.yaml), so clients switch stacks by base_url alone.
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"

_STATUS = {"invalid_request_error": 400, "rate_limit_exceeded": 429, "service_unavailable": 503,
           "internal_error": 500}


class FrontendError(ServingError):
    """The OpenAI layer's error value, plus decoding of errors that crossed Triton (nimlab.triton.wire)."""

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

    async def chunks(self, inputs: list[Any]) -> AsyncIterator[Chunk]:
        """Chunks until the one with a finish_reason; a Triton error becomes a FrontendError. Closing this
        generator early cancels the gRPC stream (Triton then sees the request as cancelled)."""
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


class TritonEngineClient:
    """The engine client (nimlab.openai.serving.EngineClient) for Triton: one served model name, requests
    sent as the llm_bls model's tensors."""

    def __init__(self, triton: TritonLLM, served_model_name: str = MODEL_ID) -> None:
        self.triton = triton
        self.model_name = served_model_name

    def check_model(self, model: str) -> None:
        if model != self.model_name:
            raise FrontendError(404, f"The model `{model}` does not exist. This server serves "
                                f"`{self.model_name}` (see /v1/models).", "invalid_request_error", "model",
                                "model_not_found")

    async def generate(self, req: GenerateRequest) -> AsyncIterator[Output]:
        """Open the stream and wait for the first chunk: errors Triton reports before it are plain HTTP errors."""
        messages = [{"role": r, "content": c} for r, c in req.messages] if req.kind == "chat" else None
        inputs = self.triton.inputs(messages=messages, prompt=None if messages is not None else req.prompt,
                                    max_tokens=req.max_tokens, temperature=req.temperature, top_p=req.top_p,
                                    seed=req.seed, ignore_eos=req.ignore_eos, stop=req.stop, stream=req.stream)
        chunks = self.triton.chunks(inputs)
        try:
            first = await anext(chunks)
        except BaseException:
            await chunks.aclose()
            raise
        return self._outputs(first, chunks)

    @staticmethod
    async def _outputs(first: Chunk, rest: AsyncIterator[Chunk]) -> AsyncIterator[Output]:
        try:
            yield Output(first.text, first.prompt_tokens, first.completion_tokens, first.finish_reason)
            async for c in rest:
                yield Output(c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason)
        finally:
            await rest.aclose()


def build_app(triton: TritonLLM, served_model_name: str = MODEL_ID) -> FastAPI:
    """The shared OpenAI app (nimlab.openai.app) over Triton."""
    started = int(time.time())
    openai = OpenAIServing(TritonEngineClient(triton, served_model_name))

    async def readiness() -> str | None:
        if await triton.ready():
            return None
        return f"Triton at {triton.url} has no ready model {triton.model}"

    def models() -> list[dict[str, Any]]:
        return [{"id": served_model_name, "object": "model", "created": started, "owned_by": "nimlab",
                 "root": MODEL_ID, "parent": None, "triton_model": triton.model}]

    app = build_openai_app(serving=lambda: openai, readiness=readiness, models=models, log=log,
                           title="nimlab hand-built stack: OpenAI API over Triton")

    @app.on_event("shutdown")
    async def _close() -> None:
        await triton.close()

    return app


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
