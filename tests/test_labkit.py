"""Where the labs look for the services: one scheme for the local course, moved ports, a workshop room and GPUs."""

from __future__ import annotations

import pytest

from nimlab import labkit

VARS = ("NIM_URL", "NIMLAB_NIM_URL", "NIM_SERVER_PORT", "NIMLAB_PORT_NIM", "TRITON_OPENAI_URL", "NIMLAB_TRITON_OPENAI_URL",
        "NIMLAB_PORT_TRITON_OPENAI", "TRITON_HTTP_URL", "NIMLAB_TRITON_HTTP_URL", "NIMLAB_PORT_TRITON_HTTP")


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def test_the_local_course_on_its_default_ports():
    assert labkit.nim_url() == "http://127.0.0.1:8000/v1"
    assert labkit.triton_url() == "http://127.0.0.1:9000/v1"
    assert labkit.triton_http_url() == "http://127.0.0.1:8001"


def test_ports_moved_for_lab_up_move_the_labs_too(monkeypatch):
    """A workshop machine whose 8000 is taken: `NIMLAB_PORT_NIM=18000 bash scripts/course.sh`, nothing else."""
    monkeypatch.setenv("NIMLAB_PORT_NIM", "18000")
    monkeypatch.setenv("NIMLAB_PORT_TRITON_OPENAI", "19000")
    monkeypatch.setenv("NIMLAB_PORT_TRITON_HTTP", "18001")
    assert labkit.nim_url() == "http://127.0.0.1:18000/v1"
    assert labkit.triton_url() == "http://127.0.0.1:19000/v1"
    assert labkit.triton_http_url() == "http://127.0.0.1:18001"


def test_the_labs_look_where_lab_up_starts_the_nim(monkeypatch):
    """`nimlab lab up` reads NIM_SERVER_PORT (the NIM's own variable) before NIMLAB_PORT_NIM; so do the labs."""
    from nimlab.lab.services import course_nim

    monkeypatch.setenv("NIMLAB_PORT_NIM", "18000")
    monkeypatch.setenv("NIM_SERVER_PORT", "18100")
    assert labkit.nim_url() == f"http://127.0.0.1:{course_nim().port}/v1" == "http://127.0.0.1:18100/v1"
    monkeypatch.delenv("NIM_SERVER_PORT")
    assert labkit.nim_url() == f"http://127.0.0.1:{course_nim().port}/v1" == "http://127.0.0.1:18000/v1"


def test_a_room_url_and_an_explicit_url_win_in_that_order(monkeypatch):
    monkeypatch.setenv("NIMLAB_PORT_NIM", "18000")
    monkeypatch.setenv("NIMLAB_NIM_URL", "http://nim.room:8000")  # what workshop/jupyterhub_config.py sets
    assert labkit.nim_url() == "http://nim.room:8000/v1"
    monkeypatch.setenv("NIM_URL", "http://gpu-box:8000/v1/")  # the GPU stack: a real NIM
    assert labkit.nim_url() == "http://gpu-box:8000/v1"
