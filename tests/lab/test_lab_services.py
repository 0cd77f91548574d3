"""The lab's service list (nimlab/lab/services.py): ports from the port map, and a clear stop outside a checkout."""

from __future__ import annotations

import pytest

from nimlab.errors import ServiceError
from nimlab.lab.services import SERVICE_NAMES, default_services


def test_every_service_takes_its_port_from_the_port_map_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("NIMLAB_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NIM_SERVER_PORT", raising=False)
    for i, name in enumerate(("docs", "jupyter", "nim", "triton-http", "triton-openai")):
        monkeypatch.setenv("NIMLAB_PORT_" + name.upper().replace("-", "_"), str(20001 + i))
    specs = default_services()
    assert [s.name for s in specs] == list(SERVICE_NAMES)
    assert [s.port for s in specs] == [20001, 20002, 20003, 20004, 20005]
    assert specs[1].link.startswith("http://127.0.0.1:20002/lab?token="), "the JupyterLab link carries its token"


def test_outside_a_checkout_only_the_site_and_jupyterlab_refuse(monkeypatch, tmp_path):
    monkeypatch.setenv("NIMLAB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("NIMLAB_COURSE_ROOT", str(tmp_path))
    assert [s.name for s in default_services(["nim", "triton"])] == ["nim", "triton"]
    with pytest.raises(ServiceError) as err:
        default_services(["docs"])
    assert "no course checkout" in str(err.value) and "NIMLAB_COURSE_ROOT" in err.value.hint
