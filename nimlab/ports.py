"""The port map: one place that says which service listens where (docs and compose files repeat it)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    name: str
    port: int
    what: str


PORT_MAP: tuple[Port, ...] = (
    Port("nim", 8000, "course NIM: OpenAI API, health, metadata, /v1/metrics (same port as real NIM)"),
    Port("triton-http", 8001, "hand-built stack: Triton KServe v2 HTTP"),
    Port("triton-grpc", 8002, "hand-built stack: Triton KServe v2 gRPC (streaming)"),
    Port("triton-metrics", 8003, "hand-built stack: Triton Prometheus metrics"),
    Port("triton-openai", 9000, "hand-built stack: OpenAI-compatible front end over Triton"),
    Port("docs", 8080, "course site (built by mkdocs, served as static files)"),
    Port("jupyter", 8888, "JupyterLab on labs/ and exercises/"),
)

PORTS: dict[str, int] = {p.name: p.port for p in PORT_MAP}


def port_variable(name: str) -> str:
    """The variable that moves `name`: NIMLAB_PORT_<NAME>, e.g. NIMLAB_PORT_TRITON_HTTP."""
    return "NIMLAB_PORT_" + name.upper().replace("-", "_")


def port(name: str) -> int:
    """The port for `name`, unless its NIMLAB_PORT_<NAME> variable moves it."""
    raw = os.environ.get(port_variable(name), "").strip()
    return int(raw) if raw.isdigit() else PORTS[name]
