"""The Kubernetes files for larger rooms (deploy/), checked as far as possible without a cluster: they parse,
every key is one the chart knows, and the numbers and names agree with the Docker room that was measured.

No cluster, Helm or registry was available here: these tests do not render or install anything.
Key sets: the `jupyterhub` chart's default values (zero-to-jupyterhub-k8s 4.1.0) and the `nim-llm` chart's
values.yaml (NVIDIA/nim-deploy, helm/nim-llm), copied as paths below; free-form maps (hub.config, extraEnv,
networkPolicy rules, env) are not descended into.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nimlab.workshop.config import WorkshopConfig

ROOT = Path(__file__).resolve().parents[1]
Z2JH = yaml.safe_load((ROOT / "deploy/z2jh/values.yaml").read_text())
NIM_K8S = list(yaml.safe_load_all((ROOT / "deploy/z2jh/course-nim.yaml").read_text()))
NIM_LLM = yaml.safe_load((ROOT / "deploy/nim-llm/values.yaml").read_text())

Z2JH_KEYS = {
    "hub.config", "hub.concurrentSpawnLimit",
    "singleuser.image.name", "singleuser.image.tag", "singleuser.image.pullPolicy", "singleuser.cmd",
    "singleuser.defaultUrl", "singleuser.uid", "singleuser.fsGid", "singleuser.startTimeout", "singleuser.extraEnv",
    "singleuser.memory.guarantee", "singleuser.memory.limit", "singleuser.cpu.guarantee", "singleuser.cpu.limit",
    "singleuser.storage.type", "singleuser.storage.capacity", "singleuser.storage.homeMountPath",
    "singleuser.networkPolicy.enabled", "singleuser.networkPolicy.egress",
    "singleuser.networkPolicy.egressAllowRules", "cull.enabled", "cull.timeout", "cull.every",
    "prePuller.continuous.enabled", "scheduling.userScheduler.enabled", "scheduling.userPlaceholder.enabled",
    "scheduling.userPlaceholder.replicas",
}
FREE_FORM = {"hub.config", "singleuser.extraEnv", "singleuser.networkPolicy.egress", "env", "nodeSelector",
             "imagePullSecrets", "resources.limits"}
NIM_LLM_KEYS = {
    "image.repository", "image.tag", "image.pullPolicy", "imagePullSecrets", "model.name", "model.ngcAPISecret",
    "model.openaiPort", "resources.limits", "nodeSelector", "persistence.enabled", "persistence.size",
    "persistence.accessMode", "statefulSet.enabled", "service.type", "service.openaiPort", "service.name", "env",
}


def paths(node: object, prefix: str = "") -> set[str]:
    """Leaf key paths of a values tree, stopping at the free-form maps."""
    if not isinstance(node, dict) or prefix in FREE_FORM:
        return {prefix}
    return set().union(*(paths(v, f"{prefix}.{k}" if prefix else k) for k, v in node.items()))


@pytest.mark.parametrize(("values", "known"), [(Z2JH, Z2JH_KEYS), (NIM_LLM, NIM_LLM_KEYS)], ids=["z2jh", "nim-llm"])
def test_every_key_is_one_the_chart_knows(values: dict, known: set[str]) -> None:
    assert paths(values) - known == set()


def test_learner_pods_match_the_measured_docker_room() -> None:
    room = WorkshopConfig()
    su = Z2JH["singleuser"]
    assert su["memory"]["limit"] == room.mem_limit and float(su["cpu"]["limit"]) == room.cpu_limit
    assert su["image"]["name"] + ":" + su["image"]["tag"] == room.image
    assert su["cmd"] == "nimlab-singleuser"  # the start script the Docker room runs (workshop/Dockerfile CMD)
    assert "CMD [\"nimlab-singleuser\"]" in (ROOT / "workshop/Dockerfile").read_text()
    assert su["storage"]["homeMountPath"] == "/home/nimlab/work"
    assert Z2JH["hub"]["config"]["JupyterHub"]["authenticator_class"] == "shared-password"


def test_learners_can_reach_the_course_nim_and_nothing_else_is_opened() -> None:
    deployment, service = NIM_K8S
    name = service["metadata"]["name"]
    label = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    assert Z2JH["singleuser"]["extraEnv"]["NIMLAB_NIM_URL"] == f"http://{name}:8000/v1"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    rules = Z2JH["singleuser"]["networkPolicy"]["egress"]
    allowed = {r["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for r in rules}
    assert allowed == {label, "nim-llm"}  # the course NIM, and the GPU NIM's pods (chart selector label)
    assert "egressAllowRules" not in Z2JH["singleuser"]["networkPolicy"]  # private IPs stay closed
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert probe == {"path": "/v1/health/ready", "port": 8000}


def test_gpu_nim_uses_the_tag_the_compose_gpu_stack_pins() -> None:
    image = f"{NIM_LLM['image']['repository']}:{NIM_LLM['image']['tag']}"
    assert image in (ROOT / "compose/gpu.yaml").read_text()
    assert NIM_LLM["resources"]["limits"]["nvidia.com/gpu"] == 1
