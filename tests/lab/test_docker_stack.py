"""The CPU lab stack on a real Docker engine: `nimlab lab up --backend docker` (compose up -d --wait), the official
`openai` SDK against both stacks on 127.0.0.1 published ports, the fallback override selecting the generic
profile for real, and `down` leaving nothing behind.

Needs the engine and the images: scripts/test.sh runs scripts/deps/30-docker.sh (engine) and
31-lab-images.sh (local base + images) first. Without an engine these tests fail with the fix; they never skip.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from nimlab.lab.launch import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
GENERIC = "nimlab_torch-fp32-tp1-pp1"
OPTIMIZED = "nimlab_native-cpu-int8-tp1-pp1-throughput"
PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]
ANSWERS: dict[str, str] = {}


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def lab(action: str, env: dict[str, str], *extra: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nimlab", "lab", action, *extra, "--backend", "docker"],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


@pytest.fixture(scope="module")
def engine() -> None:
    info = docker("info", "--format", "{{.ServerVersion}}")
    if info.returncode != 0:
        pytest.fail("the Docker engine is not reachable: " + (info.stderr.strip().splitlines() or ["?"])[-1]
                    + "; fix: bash scripts/deps/30-docker.sh", pytrace=False)
    missing = [i for i in ("nimlab/course-nim:0.1.0", "nimlab/hand-built:0.1.0")
               if docker("image", "inspect", i).returncode != 0]
    if missing:  # pytest run directly, without scripts/test.sh: build them now (minutes the first time)
        build = subprocess.run(["bash", str(ROOT / "scripts" / "deps" / "31-lab-images.sh")], capture_output=True, text=True,
                               timeout=2400)
        assert build.returncode == 0, f"building {missing} failed:\n{build.stdout[-3000:]}\n{build.stderr[-2000:]}"


@pytest.fixture(scope="module")
def stack(engine):
    project = f"nimlabtest{os.getpid()}"
    env = {
        "NIMLAB_PROJECT": project,
        "NIMLAB_PORT_NIM": str(free_port()),
        "NIMLAB_PORT_TRITON_HTTP": str(free_port()),
        "NIMLAB_PORT_TRITON_GRPC": str(free_port()),
        "NIMLAB_PORT_TRITON_METRICS": str(free_port()),
        "NIMLAB_PORT_TRITON_OPENAI": str(free_port()),
    }
    try:
        up = lab("up", env)
        yield env, up
    finally:
        lab("down", env, timeout=300)  # safety net; test_down_* checks the result


def test_images_share_the_runtime_layers_carry_cpu_torch_and_the_ca_hook(engine):
    layers = {i: docker("image", "inspect", "-f", "{{join .RootFS.Layers \" \"}}", f"nimlab/{i}:0.1.0").stdout.split()
              for i in ("course-nim", "hand-built")}
    nim, hand_built = layers["course-nim"], layers["hand-built"]
    assert hand_built[:len(nim)] == nim, "both images stand on the same runtime layers (torch stored once)"
    assert len(hand_built) - len(nim) <= 2, "the hand-built image adds only its entrypoint"
    probe = ("import torch, nimlab, os; print(torch.__version__, torch.version.cuda, nimlab.__version__, "
             "os.environ['PIP_CERT'], os.getuid())")
    out = docker("run", "--rm", "--entrypoint", "python", "nimlab/course-nim:0.1.0", "-c", probe, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2.13.0+cpu", "None", "0.1.0", "/etc/ssl/certs/ca-certificates.crt", "1000"]
    for cert in sorted((ROOT / "compose" / "certs").glob("*.crt")):  # the CA hook: each extra cert is in the bundle
        body = "".join(cert.read_text().split("-----")[2].split())
        bundle = docker("run", "--rm", "--entrypoint", "cat", "nimlab/course-nim:0.1.0",
                        "/etc/ssl/certs/ca-certificates.crt").stdout
        assert body[:64] in "".join(bundle.split()), cert.name


def client(env: dict[str, str], key: str) -> OpenAI:
    return OpenAI(base_url=f"http://127.0.0.1:{env[key]}/v1", api_key="not-used", timeout=120, max_retries=0)


def greedy(c: OpenAI) -> str:
    model = c.models.list().data[0].id
    out = c.chat.completions.create(model=model, messages=PROMPT, temperature=0, max_tokens=24)
    assert out.choices[0].finish_reason in ("stop", "length")
    assert out.usage is not None and out.usage.completion_tokens > 0
    return out.choices[0].message.content


def test_up_waits_for_every_service_and_shows_the_profile(stack):
    env, up = stack
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert "Selected profile: " in up.stdout and f"({OPTIMIZED})" in up.stdout
    assert f"http://127.0.0.1:{env['NIMLAB_PORT_NIM']}/v1" in up.stdout
    assert f"http://127.0.0.1:{env['NIMLAB_PORT_TRITON_OPENAI']}/v1" in up.stdout


def test_status_shows_each_service_health_and_the_profile(stack):
    env, _ = stack
    out = lab("status", env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"nim", "triton", "triton-openai"}
    assert all(" ready " in row for row in rows.values()), out.stdout
    assert OPTIMIZED in rows["nim"]
    assert f"http://127.0.0.1:{env['NIMLAB_PORT_TRITON_HTTP']}" in rows["triton"]
    logs = lab("logs", env, "nim", timeout=120)
    assert logs.returncode == 0 and f"({OPTIMIZED})" in logs.stdout and "Engine warm" in logs.stdout
    logs = lab("logs", env, "triton", timeout=120)
    assert "Triton ready" in logs.stdout and "Started GRPCInferenceService" in logs.stdout


def test_openai_sdk_against_both_stacks(stack):
    env, _ = stack
    nim, hand_built = client(env, "NIMLAB_PORT_NIM"), client(env, "NIMLAB_PORT_TRITON_OPENAI")
    ANSWERS["nim"] = greedy(nim)
    ANSWERS["hand-built"] = greedy(hand_built)
    assert ANSWERS["nim"].strip() and ANSWERS["hand-built"].strip()
    assert ANSWERS["nim"] == ANSWERS["hand-built"], "same int8 engine and weights, greedy decoding: the same tokens on both stacks"
    for c in (nim, hand_built):  # streaming, as the benchmark and the labs use it
        model = c.models.list().data[0].id
        chunks = list(c.chat.completions.create(model=model, messages=PROMPT, temperature=0, max_tokens=24,
                                                stream=True))
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        assert text == ANSWERS["nim"]


def test_fallback_override_selects_the_generic_profile(stack):
    env, _ = stack
    up = lab("up", env, "--fallback")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    container = f"{env['NIMLAB_PROJECT']}-nim-1"
    assert docker("inspect", "-f", "{{.HostConfig.NanoCpus}}", container).stdout.strip() == str(10**9)
    log = docker("logs", container).stdout + docker("logs", container).stderr
    found = re.findall(r"Selected profile: ([0-9a-f]{64}) \(([^)]+)\)", log)
    assert found and found[-1][1] == GENERIC, log[-2000:]
    status = lab("status", env, timeout=120)
    assert GENERIC in status.stdout
    # still answers, and correctly (the lesson's trap); fp32 replies may differ a little from int8's
    c = client(env, "NIMLAB_PORT_NIM")
    reply = c.chat.completions.create(model=c.models.list().data[0].id, temperature=0, max_tokens=16,
                                      messages=[{"role": "user", "content": "What is the capital of France?"}])
    assert "Paris" in reply.choices[0].message.content


def test_down_leaves_nothing_behind(stack):
    env, _ = stack
    project = env["NIMLAB_PROJECT"]
    down = lab("down", env, timeout=300)
    assert down.returncode == 0 and "stopped:" in down.stdout, down.stdout + down.stderr
    label = f"label=com.docker.compose.project={project}"
    assert docker("ps", "-aq", "--filter", label).stdout.strip() == ""
    assert docker("volume", "ls", "-q", "--filter", label).stdout.strip() == ""
    assert docker("network", "ls", "-q", "--filter", label).stdout.strip() == ""
    after = lab("status", env, timeout=120)
    assert after.returncode == 1 and "stopped" in after.stdout


def test_up_without_images_says_how_to_build_them(engine):
    env = {"NIMLAB_PROJECT": f"nimlabnoimg{os.getpid()}", "NIMLAB_IMAGE_TAG": "not-built"}
    out = lab("up", env, timeout=120)
    assert out.returncode == 1
    assert "image(s) not built: nimlab/course-nim:not-built, nimlab/hand-built:not-built" in out.stderr
    assert "next: bash compose/build.sh" in out.stderr
    assert docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={env['NIMLAB_PROJECT']}").stdout == ""
