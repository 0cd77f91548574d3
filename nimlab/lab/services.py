"""What the lab runs: one ServiceSpec per service, with its command, port and health URL (from the port map)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from nimlab.ports import PORTS


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
    """The embedded default: everything local, no GPU, no Docker."""
    return [course_nim()]
