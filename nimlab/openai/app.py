"""App assembly shared by both front ends: the OpenAI routes (health, models, chat, completions) over an
`OpenAIServing`, and the one error path (vLLM's api_server `build_app`). Each stack adds its own extras
(the course NIM's metadata and metrics) to the app this returns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nimlab.openai.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ServingError,
    error_body,
    validation_message,
)
from nimlab.openai.serving import Kind, OpenAIServing

Readiness = Callable[[], Awaitable[str | None]]
"""None when ready, else the reason it is not (shown in /v1/health/ready's 503 body)."""


def install_error_handlers(app: FastAPI, log: logging.Logger) -> None:
    """Every failure is an OpenAI error body: 400 for a bad request, the route's status for 404/405,
    ServingError as it says (Retry-After on 429/503), 500 otherwise."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        msg, param = validation_message(list(exc.errors()))
        return JSONResponse(error_body(msg, "invalid_request_error", param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Any, exc: StarletteHTTPException) -> JSONResponse:
        type_ = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), type_), status_code=exc.status_code)

    @app.exception_handler(ServingError)
    async def _serving(_: Any, exc: ServingError) -> JSONResponse:
        headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(Exception)
    async def _crash(_: Any, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body(f"internal error: {exc}", "internal_error"), status_code=500)


def build_app(*, serving: Callable[[], OpenAIServing], readiness: Readiness,
              models: Callable[[], list[dict[str, Any]]], log: logging.Logger, **fastapi_kwargs: Any) -> FastAPI:
    """An OpenAI-compatible app. `serving()` returns the serving object or raises ServingError (e.g. 503
    while the model loads); `readiness` and `models` answer the health and model-list routes."""
    app = FastAPI(**fastapi_kwargs)
    install_error_handlers(app, log)

    @app.get("/v1/health/live")
    async def live() -> dict[str, Any]:
        return {"object": "health.response", "message": "live"}

    @app.get("/v1/health/ready")
    async def ready() -> JSONResponse:
        problem = await readiness()
        if problem is None:
            return JSONResponse({"object": "health.response", "message": "ready"})
        return JSONResponse({"object": "health.response", "message": f"not ready: {problem}"}, status_code=503)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"object": "list", "data": models()}

    async def respond(kind: Kind, req: ChatCompletionRequest | CompletionRequest) -> Any:
        result = await serving().create(kind, req)
        if isinstance(result, dict):
            return result
        return StreamingResponse(result, media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(req: ChatCompletionRequest) -> Any:
        return await respond("chat", req)

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest) -> Any:
        return await respond("text", req)

    return app
