"""Every compose file validated by the real Compose v2 CLI (`config -q`; no engine needed), and the shape the
lessons rely on: port map, healthchecks, init, depends_on conditions, the fallback limit, GPU stack details."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from nimlab.lab.docker import compose_command
from nimlab.ports import PORTS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose"
DUMMY_KEY = {"NGC_API_KEY": "nvapi-dummy-for-validation"}


def compose(*args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("NIMLAB_")}
    e.update(env or {})
    return subprocess.run([*compose_command(), *args], capture_output=True, text=True, timeout=60, env=e)


def config(*files: str, env: dict[str, str] | None = None, profiles: tuple[str, ...] = ()) -> dict:
    argv = [a for f in files for a in ("-f", str(COMPOSE / f))]
    argv += [a for p in profiles for a in ("--profile", p)]
    out = compose(*argv, "config", "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("files", [("compose.yaml",), ("compose.yaml", "fallback.yaml"), ("gpu.yaml",)])
def test_every_compose_file_validates(files):
    argv = [a for f in files for a in ("-f", str(COMPOSE / f))]
    out = compose(*argv, "config", "-q", env=DUMMY_KEY)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


def test_all_compose_files_are_covered():
    found = {p.name for p in COMPOSE.glob("*.yaml")} | {p.name for p in COMPOSE.glob("*.yml")}
    assert found == {"compose.yaml", "fallback.yaml", "gpu.yaml"}, "a new compose file needs a validation case"


def test_missing_ngc_key_fails_with_a_clear_message():
    out = compose("-f", str(COMPOSE / "gpu.yaml"), "config", "-q", drop=("NGC_API_KEY",))
    assert out.returncode != 0
    assert "NGC_API_KEY is not set" in out.stderr
    assert "https://org.ngc.nvidia.com/setup/api-key" in out.stderr and "export NGC_API_KEY" in out.stderr


def test_cpu_stack_ports_health_init_and_order():
    cfg = config("compose.yaml")
    services = cfg["services"]
    assert set(services) == {"nim", "triton", "triton-openai"}
    published = {(s, int(p["target"])): int(p["published"]) for s, svc in services.items() for p in svc["ports"]}
    assert published == {
        ("nim", 8000): PORTS["nim"],
        ("triton", 8001): PORTS["triton-http"], ("triton", 8002): PORTS["triton-grpc"],
        ("triton", 8003): PORTS["triton-metrics"],
        ("triton-openai", 9000): PORTS["triton-openai"],
    }, "compose publishes the port map (nimlab/ports.py) so URLs match the local backend"
    assert all(p["host_ip"] == "127.0.0.1" for svc in services.values() for p in svc["ports"])
    for name, svc in services.items():
        assert svc["init"] is True, name
        assert svc["healthcheck"]["test"][0] == "CMD", name
        assert "health/ready" in " ".join(svc["healthcheck"]["test"]), name
    assert services["triton"]["depends_on"]["nim"]["condition"] == "service_healthy"
    assert services["triton-openai"]["depends_on"]["triton"]["condition"] == "service_healthy"
    assert "triton:8002" in services["triton-openai"]["command"], "the front end talks gRPC to the Triton service"
    # the NIM and Triton share one model cache volume, as the local processes share NIM_CACHE_PATH
    for name in ("nim", "triton"):
        mounts = {(v["source"], v["target"]) for v in services[name]["volumes"]}
        assert ("nim-cache", "/opt/nim/.cache") in mounts


def test_images_build_from_one_dockerfile_with_a_base_image_argument():
    cfg = config("compose.yaml")
    builds = {n: s["build"] for n, s in cfg["services"].items() if "build" in s}
    assert {b["target"] for b in builds.values()} == {"nim", "hand-built"}
    for b in builds.values():
        assert Path(b["context"]) == ROOT and b["dockerfile"] == "compose/Dockerfile"
        assert b["args"]["BASE_IMAGE"] == "python:3.11-slim-bookworm"  # the official image a user would pull
    offline = config("compose.yaml", env={"NIMLAB_BASE_IMAGE": "nimlab-base:bookworm"})
    assert {s["build"]["args"]["BASE_IMAGE"] for s in offline["services"].values() if "build" in s} == {
        "nimlab-base:bookworm"}


def test_dockerfile_shares_one_runtime_layer_and_never_resolves_cuda_torch():
    text = (COMPOSE / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert re.search(r"^FROM runtime AS nim$", text, re.M) and re.search(r"^FROM runtime AS hand-built$", text, re.M)
    assert text.count("COPY --from=build /opt/venv /opt/venv") == 1, "torch & co. arrive in one shared layer"
    # torch only from the wheelhouse (--no-index) or the CPU-only index, never a bare PyPI resolve
    for line in re.findall(r"pip install[^;\n]*torch==[^;\n]*", text):
        assert "--no-index" in line or "--index-url" in line, line
    assert "download.pytorch.org/whl/cpu" in text
    # the corporate-proxy CA hook
    assert "COPY compose/certs/ /usr/local/share/ca-certificates/" in text and "update-ca-certificates" in text
    assert "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in text
    ignore = [ln.strip() for ln in (COMPOSE / "Dockerfile.dockerignore").read_text().splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*" and "!nimlab" in ignore, "the build context is only what the Dockerfile copies"


def test_fallback_override_limits_the_nim_to_one_cpu():
    cfg = config("compose.yaml", "fallback.yaml")
    assert float(cfg["services"]["nim"]["cpus"]) == 1.0
    assert "cpus" not in cfg["services"]["triton"]


def test_gpu_stack_real_images_reservations_key_cache_and_shm():
    cfg = config("gpu.yaml", env=DUMMY_KEY, profiles=("gpu", "gpu-nim2"))
    services = cfg["services"]
    assert services["nim-llm"]["image"] == "nvcr.io/nim/meta/llama-3.1-8b-instruct:1.12.0"
    assert services["nim-llm-2x"]["image"] == "nvcr.io/nim/meta/llama-3.1-8b-instruct:2.0.1"
    assert services["triton-trtllm"]["image"] == "nvcr.io/nvidia/tritonserver:24.07-trtllm-python-py3"
    for name, svc in services.items():
        assert svc.get("profiles"), f"{name}: GPU services sit behind a profile (a reservation fails without GPUs)"
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"], name
        assert svc["init"] is True and svc.get("shm_size"), name
    for name in ("nim-llm", "nim-llm-2x"):
        svc = services[name]
        assert svc["environment"]["NGC_API_KEY"] == DUMMY_KEY["NGC_API_KEY"]
        assert any(v["target"] == "/opt/nim/.cache" for v in svc["volumes"]), "the NIM cache volume"
        assert svc["shm_size"] >= 16 * 2**30 if isinstance(svc["shm_size"], int) else svc["shm_size"]
        assert svc["ports"][0]["published"] in ("8000", 8000)
    trt = services["triton-trtllm"]
    assert any(v["target"] == "/triton_model_repo" for v in trt["volumes"]), "the hand-built model repository"
    assert {int(p["published"]) for p in trt["ports"]} == {PORTS["triton-http"], PORTS["triton-grpc"],
                                                           PORTS["triton-metrics"]}


def test_plain_gpu_config_without_profiles_starts_nothing():
    cfg = config("gpu.yaml", env=DUMMY_KEY)
    assert cfg.get("services", {}) == {}, "without --profile a GPU-less machine brings nothing up"
