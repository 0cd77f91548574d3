"""What the lab runs: one ServiceSpec per service, with its command, port and health URL (from the port map)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from nimlab.ports import PORTS, port


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]
    port: int
    health_path: str
    what: str
    env: dict[str, str] = field(default_factory=dict, hash=False)
    ready_timeout_s: float = 180.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def course_nim(port: int | None = None, env: dict[str, str] | None = None) -> ServiceSpec:
    port = port or int(os.environ.get("NIM_SERVER_PORT") or PORTS["nim"])
    return ServiceSpec(
        name="nim",
        argv=(sys.executable, "-m", "nimlab", "serve", "--host", "127.0.0.1", "--port", str(port)),
        port=port,
        health_path="/v1/health/ready",
        what="course NIM (OpenAI API at /v1)",
        env=dict(env or {}),
    )


def default_services() -> list[ServiceSpec]:
    """The embedded default: everything local, no GPU, no Docker — the course NIM beside the hand-built stack."""
    return [course_nim(), *hand_built_stack()]


def hand_built_stack(preset: str = "tuned") -> list[ServiceSpec]:
    """The hand-built stack: the real tritonserver on our model repository, then the OpenAI front end over it.

    Ports from the port map (Triton HTTP/gRPC/metrics 8001/8002/8003, OpenAI 9000), so it runs beside the
    course NIM on 8000. Start them in this order; the front end is ready once Triton's llm_bls is.
    """
    http, grpc, metrics, openai = (port("triton-http"), port("triton-grpc"), port("triton-metrics"),
                                   port("triton-openai"))
    return [
        ServiceSpec(
            name="triton",
            argv=(sys.executable, "-m", "nimlab", "triton", "server", "--preset", preset, "--http-port", str(http),
                  "--grpc-port", str(grpc), "--metrics-port", str(metrics)),
            port=http,
            health_path="/v2/health/ready",
            what=f"Triton Inference Server, preset {preset} (KServe v2 HTTP; gRPC :{grpc}; metrics :{metrics})",
            ready_timeout_s=240.0,
        ),
        ServiceSpec(
            name="triton-openai",
            argv=(sys.executable, "-m", "nimlab", "triton", "openai", "--host", "127.0.0.1", "--port", str(openai),
                  "--triton-grpc", f"127.0.0.1:{grpc}"),
            port=openai,
            health_path="/v1/health/ready",
            what="OpenAI-compatible front end over Triton (OpenAI API at /v1)",
        ),
    ]
