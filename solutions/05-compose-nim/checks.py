"""Checks for exercise 5: the Compose v2 CLI's normalized config (JSON), read structurally."""

from __future__ import annotations

import json
import re
from typing import Any

from nimlab.grader.checks import Check

DUMMY_KEY = "dummy-ngc-key-for-validation"


def _nim_service(value: Any) -> tuple[dict | None, str]:
    if not isinstance(value, dict) or value.get("returncode") != 0:
        err = (value or {}).get("stderr", "") if isinstance(value, dict) else ""
        return None, "docker compose rejected the file: " + (err.strip().splitlines() or ["(no message)"])[-1][:300]
    try:
        cfg = json.loads(value["stdout"])
    except ValueError:
        return None, "docker compose printed no configuration"
    for svc in (cfg.get("services") or {}).values():
        if str(svc.get("image", "")).startswith("nvcr.io/nim/"):
            return svc, ""
    return None, "no service runs an nvcr.io/nim/... image"


def _svc_check(fn: Any) -> Any:
    def check(value: Any, expect: Any, test: Any) -> Check:
        svc, why = _nim_service(value)
        if svc is None:
            return 0.0, why
        return fn(svc, expect)
    check.__name__ = fn.__name__
    return check


@_svc_check
def valid(svc: dict, expect: Any) -> Check:
    return 1.0, "valid for the Compose v2 CLI, with a NIM service"


@_svc_check
def gpu(svc: dict, expect: Any) -> Check:
    devices = (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
    for d in devices:
        if d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or []) and (
                d.get("count") is not None or d.get("device_ids")):
            return 1.0, "reserves NVIDIA GPUs"
    return 0.0, "reserve GPUs under deploy.resources.reservations.devices (driver nvidia, capabilities [gpu], count)"


def key_from_env(value: Any, expect: Any, test: Any) -> Check:
    """The key the grader passed for this test only (not the public dummy, which a file could hard-code)."""
    svc, why = _nim_service(value)
    if svc is None:
        return 0.0, why
    given = ((getattr(test, "call", None) or {}).get("env") or {}).get("NGC_API_KEY")
    env = svc.get("environment") or {}
    if given and given != DUMMY_KEY and env.get("NGC_API_KEY") == given:
        return 1.0, "NGC_API_KEY comes from the environment"
    if "NGC_API_KEY" in env:
        return 0.0, "NGC_API_KEY is set, but not from the caller's environment: never write a key into the file"
    return 0.0, "the NIM needs NGC_API_KEY in its environment"


def key_required(value: Any, expect: Any, test: Any) -> Check:
    """Run without NGC_API_KEY: compose must refuse, naming the variable, with a message of your own."""
    if not isinstance(value, dict):
        return 0.0, "no result"
    err = value.get("stderr", "")
    if value.get("returncode") == 0:
        return 0.0, "without NGC_API_KEY the file still validates: use ${NGC_API_KEY:?message} to fail clearly"
    m = re.search(r"required variable NGC_API_KEY is missing a value:?(.*)", err)
    if not m:
        return 0.0, "without NGC_API_KEY compose fails, but not because the key is required"
    if m.group(1).strip():
        return 1.0, "a missing NGC_API_KEY stops compose with your message"
    return 0.5, "a missing NGC_API_KEY stops compose, but with no message telling the user what to do"


@_svc_check
def cache(svc: dict, expect: Any) -> Check:
    for v in svc.get("volumes") or []:
        if v.get("target") == "/opt/nim/.cache" and v.get("type") in ("volume", "bind"):
            return 1.0, "the model cache persists"
    return 0.0, "mount a volume at /opt/nim/.cache (NIM_CACHE_PATH) so weights and engines are not re-downloaded"


@_svc_check
def shm(svc: dict, expect: Any) -> Check:
    try:
        size = int(svc.get("shm_size") or 0)
    except ValueError:
        size = 0
    if size >= 1 << 30:
        return 1.0, "shared memory sized"
    return 0.0, "set shm_size (at least 1 GB; NIM asks for 16 GB on multi-GPU hosts without NVLink)"


@_svc_check
def healthcheck(svc: dict, expect: Any) -> Check:
    test = (svc.get("healthcheck") or {}).get("test") or []
    text = " ".join(test) if isinstance(test, list) else str(test)
    if "/v1/health/ready" in text:
        return 1.0, "healthy means the model is loaded"
    if "/v1/health/live" in text or "/v1/models" in text:
        return 0.5, "the healthcheck should use /v1/health/ready (live only says the container runs)"
    return 0.0, "add a healthcheck on /v1/health/ready"


@_svc_check
def pinned(svc: dict, expect: Any) -> Check:
    image = str(svc.get("image"))
    if "@sha256:" in image:
        return 1.0, "pinned by digest"
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    if tag and tag != "latest":
        return 1.0, "pinned tag"
    return 0.0, "pin the image to a release tag (not latest, not untagged)"


@_svc_check
def port(svc: dict, expect: Any) -> Check:
    for p in svc.get("ports") or []:
        if int(p.get("target", 0)) == 8000:
            return 1.0, "port 8000 published"
    return 0.0, "publish the NIM's port 8000"
