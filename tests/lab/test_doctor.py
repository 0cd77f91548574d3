"""`nimlab lab doctor`: every check gives OK or FAIL with a one-line fix, against real sockets, a real engine
socket (or a missing one), NVML as this machine has it, and the environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from nimlab.lab import doctor
from nimlab.ports import PORT_MAP, Port


def test_python_check():
    assert doctor.check_python().ok  # the suite runs on 3.11
    bad = doctor.check_python((3, 12))
    assert not bad.ok and "FAIL" in bad.line() and "fix: install Python 3.11" in bad.line()


def test_platform_check_names_what_is_needed():
    assert doctor.check_platform().ok  # the suite runs on Linux x86-64
    mac = doctor.check_platform("Darwin", "arm64")
    assert not mac.ok and mac.required and "macOS on arm64: nimlab needs Linux x86-64 or WSL2" in mac.detail
    assert "WSL2" in mac.fix
    arm = doctor.check_platform("Linux", "aarch64")
    assert not arm.ok and "x86-64" in arm.detail
    assert not doctor.check_platform("Windows", "AMD64").ok
    assert doctor.check_platform("Linux", "x86_64").ok


def test_on_an_unsupported_machine_only_platform_and_python_are_reported(monkeypatch):
    monkeypatch.setattr(doctor.platform, "system", lambda: "Darwin")
    monkeypatch.delattr(doctor.os, "sched_getaffinity")  # as on macOS
    checks = doctor.run_checks()
    assert [c.name for c in checks] == ["platform", "python"]
    text, code = doctor.report(checks)
    assert code == 1 and "1 required check(s) failed" in text
    assert doctor.unsupported().startswith("error: macOS on ")
    assert doctor.usable_cpus() == (os.cpu_count() or 1)  # no sched_getaffinity: the count, not a traceback


def test_one_usable_cpu_warns_of_the_fallback_without_failing_the_course():
    assert doctor.check_cpus().ok == (len(os.sched_getaffinity(0)) >= 2)
    one = doctor.check_cpus(1)
    assert not one.ok and not one.required and "nimlab_torch-fp32-tp1-pp1" in one.detail
    assert "taskset" in one.fix
    text, code = doctor.report([doctor.check_python(), one])
    assert code == 0 and "1 optional check(s) failed (cpus)" in text


def test_cpus_follow_this_process_affinity():
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c",
                          "from nimlab.lab import doctor; print(doctor.usable_cpus())"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1", out.stderr


def test_memory_and_disk_checks_read_this_machine_and_judge_the_numbers():
    assert "GiB available" in doctor.check_memory().detail
    assert not doctor.check_memory(available_kib=2 * 2**20).ok and doctor.check_memory(8 * 2**20).ok
    assert "GiB free at" in doctor.check_disk().detail
    low = doctor.check_disk(free_bytes=1 * 2**30)
    assert not low.ok and not low.required and "4 GiB" in low.fix


def test_a_taken_port_fails_with_who_holds_it_and_a_free_one_passes():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        checks = doctor.check_ports([Port("nim", taken, ""), Port("triton-openai", free, "")])
    assert [c.ok for c in checks] == [False, True]
    assert f"port {taken}" in checks[0].line() and "in use" in checks[0].line()
    assert f"ss -ltnp 'sport = :{taken}'" in checks[0].fix


def test_default_ports_are_every_service_lab_up_starts_as_moved_by_their_variables(monkeypatch):
    monkeypatch.delenv("NIMLAB_PORT_JUPYTER", raising=False)
    checks = {c.detail.split(":")[0]: c for c in doctor.check_ports()}
    assert set(checks) == {"nim", "triton-http", "triton-grpc", "triton-metrics", "triton-openai", "docs", "jupyter"}
    assert checks["jupyter"].name == "port 8888"
    monkeypatch.setenv("NIMLAB_PORT_JUPYTER", "18888")
    moved = {c.detail.split(":")[0]: c for c in doctor.check_ports()}["jupyter"]
    assert moved.name == "port 18888"
    assert "export NIMLAB_PORT_JUPYTER=<free port>" in moved.fix


def test_docker_check_fails_clearly_without_an_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    c = doctor.check_docker()
    assert not c.ok and "no engine socket" in c.detail and "systemctl start docker" in c.fix
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert not doctor.check_docker().ok


def test_docker_check_fails_when_the_socket_does_not_answer(monkeypatch, tmp_path):
    path = tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # a socket file nobody accepts on
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        c = doctor.check_docker()
    assert not c.ok and "does not answer" in c.detail


@pytest.mark.docker
def test_docker_check_passes_against_the_real_engine(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    c = doctor.check_docker()
    assert c.ok, c.line()
    assert "engine 20." in c.detail or "engine 2" in c.detail


def test_compose_cli_is_v2():
    c = doctor.check_compose()
    assert c.ok and "Compose 5.6.1" in c.detail, c.line()


def test_gpu_check_reports_what_nvml_sees():
    c = doctor.check_gpu()
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        count = 0
    assert c.ok == (count > 0)
    if not c.ok:  # this machine: no GPU -> FAIL, optional, with the fix for the GPU stack
        assert "no NVIDIA GPU" in c.detail and "NVIDIA Container Toolkit" in c.fix and not c.required
        assert "(optional)" in c.line()


def test_ngc_key_check(monkeypatch):
    monkeypatch.delenv("NGC_API_KEY", raising=False)
    c = doctor.check_ngc_key()
    assert not c.ok and "export NGC_API_KEY" in c.fix
    monkeypatch.setenv("NGC_API_KEY", "nvapi-secret-value")
    c = doctor.check_ngc_key(required=True)
    assert c.ok and "secret" not in c.line(), "the key itself is never printed"


def test_report_exit_code_counts_required_checks_only():
    ok = doctor.Check("python", True, "3.11")
    optional = doctor.Check("gpu", False, "none", "install a GPU", required=False)
    text, code = doctor.report([ok, optional])
    assert code == 0 and "1 optional check(s) failed" in text
    text, code = doctor.report([ok, doctor.Check("port 8000", False, "in use", "stop it")])
    assert code == 1 and "1 required check(s) failed" in text


def test_cli_prints_one_line_per_check_each_ok_or_fail_with_a_fix(monkeypatch):
    env = {k: v for k, v in os.environ.items() if k != "NGC_API_KEY"}
    out = subprocess.run([sys.executable, "-m", "nimlab", "lab", "doctor", "--gpu"], capture_output=True, text=True,
                         timeout=120, env=env)
    lines = out.stdout.splitlines()
    checks = [ln for ln in lines if ln.startswith(("OK", "FAIL"))]
    names = [ln.split()[1] for ln in checks]
    assert names[:2] == ["platform", "python"] and "docker" in names and "gpu" in names and "NGC_API_KEY" in names
    assert sum(n == "port" for n in names) == len(PORT_MAP)  # the site and JupyterLab too
    for i, ln in enumerate(lines):
        if ln.startswith("FAIL"):
            assert lines[i + 1].strip().startswith("fix: "), ln
    assert out.returncode == 1, "with --gpu the missing NGC key (and GPU) are required"
