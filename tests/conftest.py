"""Shared fixtures. Real parts only: services are started as real processes on loopback ports."""

from __future__ import annotations

import os

import pytest

from nimlab.lab.launch import course_nim


@pytest.fixture(scope="session", autouse=True)
def _shared_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One NIM_CACHE_PATH for the whole run, so only the first service start dequantizes the GGUF."""
    os.environ.setdefault("NIM_CACHE_PATH", str(tmp_path_factory.mktemp("nim-cache")))


@pytest.fixture(scope="session")
def nim_optimized():
    """The course NIM as auto-selection leaves it on this machine (needs >= 2 usable CPUs)."""
    with course_nim() as running:
        yield running


@pytest.fixture(scope="session")
def nim_generic():
    """The course NIM forced onto its generic profile (plain fp32 engine, batching in flight too)."""
    with course_nim(env={"NIM_MODEL_PROFILE": "nimlab_torch-fp32-tp1-pp1"}) as running:
        yield running


@pytest.fixture(scope="session")
def triton_tuned():
    """The hand-built stack's real tritonserver on the tuned repository (one per test session)."""
    from nimlab.triton.launcher import triton_server

    with triton_server("tuned") as running:
        yield running


@pytest.fixture(scope="session")
def triton_openai(triton_tuned):
    """The OpenAI-compatible front end over `triton_tuned`."""
    from nimlab.triton.launcher import openai_frontend

    with openai_frontend(triton_tuned.grpc_url) as running:
        yield running


@pytest.fixture(scope="session")
def acme_adapter(tmp_path_factory: pytest.TempPathFactory):
    """The course's own LoRA adapter, trained once per run on CPU (peft), as lab 6 trains it.

    Lab 6 reuses it: the lab's training cell finds the same settings recorded in the folder.
    """
    from pathlib import Path

    from nimlab.lora.settings import TrainConfig
    from nimlab.lora.train import train

    out = tmp_path_factory.mktemp("adapters") / "acme"
    return train(TrainConfig(), out, cache_dir=Path(os.environ["NIM_CACHE_PATH"]))
