"""The room's Docker objects besides the learners' containers (which DockerSpawner makes): its network, the
shared NIM and hand-built stack (Triton + its OpenAI front end), and the sweep that removes everything carrying the room's label or name prefix.

Through the docker CLI, as the rest of nimlab's Docker code: no SDK in the course venv, same errors a user sees.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

import httpx

from nimlab.errors import ServiceError
from nimlab.workshop.config import WorkshopConfig

LABEL = "nimlab.workshop"


def docker(*args: str, timeout: float = 60.0, check: bool = True) -> str:
    """Run the docker CLI; a failure becomes one line with the engine's own message."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise ServiceError("the docker CLI is not installed", hint="bash scripts/deps/30-docker.sh") from exc
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"docker {args[0]} took over {timeout:g} s", hint="check the engine: docker info") from exc
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ServiceError(f"docker {' '.join(args[:2])} failed: {last}", hint="check the engine: docker info")
    return done.stdout


def preflight(cfg: WorkshopConfig) -> None:
    """The engine answers and the learner image is there (rooms pull nothing: pull_policy never)."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        raise ServiceError("the Docker engine does not answer", hint="bash scripts/deps/30-docker.sh (starts dockerd)")
    if subprocess.run(["docker", "image", "inspect", cfg.image], capture_output=True).returncode != 0:
        raise ServiceError(f"the learner image {cfg.image} is not built", hint="bash scripts/deps/32-hub.sh")


def create_network(cfg: WorkshopConfig) -> str:
    """The room's bridge network; returns its gateway address, where the hub listens for the containers."""
    if not docker("network", "ls", "-q", "--filter", f"name=^{cfg.network}$").strip():
        docker("network", "create", "--label", f"{LABEL}={cfg.name}", cfg.network)
    info = json.loads(docker("network", "inspect", cfg.network))[0]
    gateway = info["IPAM"]["Config"][0].get("Gateway", "")
    if not gateway:
        raise ServiceError(f"network {cfg.network} has no gateway address", hint=f"docker network rm {cfg.network}")
    return gateway


def container_ip(name: str, network: str) -> str:
    info = json.loads(docker("inspect", name))[0]
    return info["NetworkSettings"]["Networks"][network]["IPAddress"]


def _run_service(cfg: WorkshopConfig, container: str, alias: str, mem: str, argv: list[str],
                 extra: tuple[str, ...] = ()) -> None:
    """One of the room's shared services: a container of the learner image on the room's network, reachable
    by `alias` from every learner's container; left as it is when it already exists (`up` after a crash)."""
    if not docker("ps", "-aq", "--filter", f"name=^{container}$").strip():
        docker("run", "-d", "--name", container, "--network", cfg.network, "--network-alias", alias,
               "--label", f"{LABEL}={cfg.name}", "--init", "--memory", mem, "--cpus", str(cfg.nim_cpu_limit),
               *extra, cfg.image, *argv)


def _wait_ready(container: str, url: str, what: str, timeout: float) -> None:
    """Poll `url` until it answers 200; stop early, with the log's last lines, when the container exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = json.loads(docker("inspect", container))[0]["State"]
        if not state["Running"]:
            tail = docker("logs", "--tail", "3", container, check=False)
            raise ServiceError(f"{what} exited ({state['ExitCode']}): {tail.strip()[-200:]}",
                               hint=f"docker logs {container}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise ServiceError(f"{what} was not ready within {timeout:g} s", hint=f"docker logs {container}")


def start_shared_nim(cfg: WorkshopConfig, timeout: float = 240.0, wait: bool = True) -> str:
    """One course NIM for the room, reachable as http://nim:8000 on its network; returns its URL from here
    once /v1/health/ready answers (the weights cache is in the image, so this takes seconds)."""
    _run_service(cfg, cfg.nim_container, "nim", cfg.nim_mem_limit, ["nimlab", "serve", "--host", "0.0.0.0"])
    url = f"http://{container_ip(cfg.nim_container, cfg.network)}:8000"
    if wait:
        _wait_ready(cfg.nim_container, url + "/v1/health/ready", "the shared NIM", timeout)
    return url + "/v1"


def start_shared_triton(cfg: WorkshopConfig, timeout: float = 300.0) -> tuple[str, str]:
    """The hand-built stack for the room, as compose/compose.yaml runs it: the real tritonserver on the tuned
    repository (compose's entry point, in the learner image: its weights cache is already filled) as
    http://triton:8001 (gRPC :8002), and the OpenAI front end over it as http://triton-openai:9000/v1.
    Returns (Triton HTTP, front end) URLs from here once both are ready."""
    # the Python backend passes tensors through shared memory; Docker's default 64 MB is tight for its models
    _run_service(cfg, cfg.triton_container, "triton", cfg.triton_mem_limit,
                 ["python", "/opt/nimlab/entrypoints/triton_server.py"], extra=("--shm-size", "512m"))
    http = f"http://{container_ip(cfg.triton_container, cfg.network)}:8001"
    _wait_ready(cfg.triton_container, http + "/v2/health/ready", "the shared Triton", timeout)
    _run_service(cfg, cfg.frontend_container, "triton-openai", "1G",
                 ["nimlab", "triton", "openai", "--host", "0.0.0.0", "--port", "9000", "--triton-grpc", "triton:8002"])
    front = f"http://{container_ip(cfg.frontend_container, cfg.network)}:9000"
    _wait_ready(cfg.frontend_container, front + "/v1/health/ready", "the shared Triton front end", 120)
    return http, front + "/v1"


@dataclass(frozen=True)
class Usage:
    name: str
    mem_mib: float  # docker stats: the cgroup's memory less its page cache
    cpu_pct: float
    rss_mib: float = 0.0  # its processes' resident sets, file-backed pages included (see resident_mib)


def _mib(text: str) -> float:
    units = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0, "kB": 1e3 / 2**20, "MB": 1e6 / 2**20,
             "GB": 1e9 / 2**20}
    num = text.rstrip("BKMGikb")
    return float(num) * units[text[len(num):]]


def usage(cfg: WorkshopConfig, resident: bool = False) -> list[Usage]:
    """docker stats (one sample) for every running container of the room; with `resident`, also the
    resident memory of each (one `docker top` per container)."""
    names = containers(cfg)
    if not names:
        return []
    out = docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}", *names)
    rows = []
    for line in out.splitlines():
        name, mem, cpu = line.split("\t")
        rows.append(Usage(name, _mib(mem.split("/")[0].strip()), float(cpu.rstrip("%")),
                          resident_mib(name) if resident else 0.0))
    return rows


def resident_mib(container: str) -> float:
    """The summed resident set of a container's processes. docker stats leaves out page cache, and the NIM
    maps its cached weights from a file, so their ~0.5 GiB counts as page cache there although every token
    reads them: sizing a room needs this figure. 0 when the container is gone."""
    out = docker("top", container, "-eo", "pid,rss", check=False)
    total_kib = sum(int(cols[1]) for cols in (ln.split() for ln in out.splitlines()[1:])
                    if len(cols) == 2 and cols[1].isdigit())
    return total_kib / 1024


def containers(cfg: WorkshopConfig, all_states: bool = False) -> list[str]:
    """The room's containers: learners (DockerSpawner puts our label on them) and the shared services."""
    flags = ["-a"] if all_states else []
    return docker("ps", *flags, "--filter", f"label={LABEL}={cfg.name}", "--format", "{{.Names}}").split()


def volumes(cfg: WorkshopConfig) -> list[str]:
    """The learners' work volumes (DockerSpawner names them <room>-work-<learner>)."""
    names = docker("volume", "ls", "--format", "{{.Name}}", "--filter", f"name={cfg.volume_prefix}").split()
    return sorted(n for n in names if n.startswith(cfg.volume_prefix))


def sweep(cfg: WorkshopConfig, remove_volumes: bool) -> list[str]:
    """Remove what the room left in Docker (after the hub stopped its servers): containers, network, and the
    learners' volumes only when asked (their work lives there)."""
    gone = []
    names = containers(cfg, all_states=True)
    if names:
        docker("rm", "-f", "-v", *names, timeout=120)
        gone += names
    if docker("network", "ls", "-q", "--filter", f"name=^{cfg.network}$").strip():
        docker("network", "rm", cfg.network)
        gone.append(cfg.network)
    if remove_volumes:
        vols = volumes(cfg)
        if vols:
            docker("volume", "rm", *vols)
            gone += vols
    return gone
