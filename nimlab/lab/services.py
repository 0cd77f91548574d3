"""What the lab runs: one ServiceSpec per service, with its command, port and health URL (from the port map)."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from nimlab.errors import ServiceError
from nimlab.ports import port, port_variable


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: tuple[str, ...]
    port: int
    health_path: str
    what: str
    env: dict[str, str] = field(default_factory=dict, hash=False)
    ready_timeout_s: float = 180.0
    needs_model: bool = False  # starts once the shared fp32 model cache is filled (one dequantization, not three)
    fills_model: bool = False  # fills that cache itself when it is empty (the course NIM)
    after: str = ""  # starts once this service is ready (a client that would back off while its server loads)
    open_path: str = ""  # what a person opens: appended to `url` on the final screen
    port_name: str = ""  # its name in the port map, so errors can say which NIMLAB_PORT_* variable moves it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def link(self) -> str:
        return self.url + self.open_path

    @property
    def port_var(self) -> str:
        return port_variable(self.port_name) if self.port_name else ""


def state_dir() -> Path:
    """Where the lab keeps pid files, logs and tokens: NIMLAB_STATE_DIR, else ~/.nimlab/run."""
    base = os.environ.get("NIMLAB_STATE_DIR")
    path = Path(base) if base else Path.home() / ".nimlab" / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def course_root() -> Path:
    """The checkout nimlab runs from (an editable install): the site and the notebooks live there."""
    root = Path(os.environ.get("NIMLAB_COURSE_ROOT") or Path(__file__).resolve().parents[2])
    if not (root / "mkdocs.yml").is_file() or not (root / "labs").is_dir():
        raise ServiceError(f"no course checkout at {root} (mkdocs.yml and labs/ are missing)",
                           hint="run from a clone of the course: `bash scripts/course.sh`, "
                                "or set NIMLAB_COURSE_ROOT to the clone")
    return root


def course_nim(port_: int | None = None, env: dict[str, str] | None = None) -> ServiceSpec:
    port_ = port_ or int(os.environ.get("NIM_SERVER_PORT") or port("nim"))
    return ServiceSpec(
        name="nim",
        argv=(sys.executable, "-m", "nimlab", "serve", "--host", "127.0.0.1", "--port", str(port_)),
        port=port_,
        health_path="/v1/health/ready",
        what="course NIM (OpenAI API at /v1)",
        env=dict(env or {}),
        fills_model=True,
        open_path="/v1",
        port_name="nim",
    )


def course_site() -> ServiceSpec:
    """The course site, built from docs/ only when they changed and served as static files."""
    from nimlab.lab.site import site_argv

    p = port("docs")
    return ServiceSpec(name="docs", argv=site_argv(course_root(), p), port=p, health_path="/",
                       what="course site (lessons, labs, exercises)", ready_timeout_s=240.0, port_name="docs")


def jupyterlab() -> ServiceSpec:
    """JupyterLab on labs/ and exercises/, on loopback, behind a token kept in the state folder."""
    from nimlab.lab.jupyter import jupyter_argv, jupyter_token

    p, state = port("jupyter"), state_dir()
    token = jupyter_token(state)
    return ServiceSpec(name="jupyter", argv=jupyter_argv(course_root(), state, p), port=p, health_path="/api",
                       what="JupyterLab on labs/ and exercises/", env={"JUPYTER_TOKEN": token},
                       open_path=f"/lab?token={token}", port_name="jupyter")


SERVICE_NAMES = ("docs", "jupyter", "nim", "triton", "triton-openai")


def default_services(only: Collection[str] = ()) -> list[ServiceSpec]:
    """The embedded default: everything local, no GPU, no Docker — the site and JupyterLab first (they need no
    model), then the course NIM beside the hand-built stack. `only` builds just those (the NIM alone needs
    no checkout, so it also runs from an installed package)."""
    want = set(only) or set(SERVICE_NAMES)
    specs = [build() for name, build in (("docs", course_site), ("jupyter", jupyterlab), ("nim", course_nim))
             if name in want]
    return specs + [s for s in hand_built_stack() if s.name in want]


def hand_built_stack(preset: str = "tuned") -> list[ServiceSpec]:
    """The hand-built stack: the real tritonserver on our model repository, then the OpenAI front end over it.

    Ports from the port map (Triton HTTP/gRPC/metrics 8001/8002/8003, OpenAI 9000), so it runs beside the
    course NIM on 8000. Triton starts beside the NIM (once the model cache is filled), and the front end once
    Triton is ready: its gRPC channel, started earlier, would back off for tens of seconds before retrying.
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
            needs_model=True,
            # beside the course NIM: since neither imports torch more than once (one llm process; the
            # tokenizer processes use LightTokenizer) side by side beats one after the other, 19.0 s vs 24.2 s
            # to a second start's "course up" (bench/bench_course_start.py)
            port_name="triton-http",
        ),
        ServiceSpec(
            name="triton-openai",
            argv=(sys.executable, "-m", "nimlab", "triton", "openai", "--host", "127.0.0.1", "--port", str(openai),
                  "--triton-grpc", f"127.0.0.1:{grpc}"),
            port=openai,
            health_path="/v1/health/ready",
            what="OpenAI-compatible front end over Triton (OpenAI API at /v1)",
            after="triton",
            port_name="triton-openai",
            open_path="/v1",
        ),
    ]
