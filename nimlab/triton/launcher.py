"""Start the real tritonserver (bundled in PyPI nvidia-pytriton) on a rendered repository, and stop it cleanly.

The three details the bundled binary needs (see docs: runtime facts):
  1. the Python backend stub must sit in the backend directory: we build our own backend directory in the
     state dir (links to the bundled backend + a copy of the stub for this Python), leaving the venv untouched;
  2. the stub finds its Python through PATH: the venv's bin goes first;
  3. the stub links libpython: LD_LIBRARY_PATH gets this interpreter's LIBDIR, and the wheel's bundled
     libraries (nvidia_pytriton.libs, which the stub's $ORIGIN-relative RPATH only finds in place).
Stop: SIGINT to tritonserver (it unloads models and ends its stubs), then SIGKILL to whatever is left in
its process group, so nothing holds a port afterwards.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nimlab.errors import ServiceError
from nimlab.model_cache import prepare_model_cache
from nimlab.ports import PORTS
from nimlab.process import Running, free_port, launched, stop_group
from nimlab.triton.render import render


def bundled_root() -> Path:
    try:
        import pytriton
    except ImportError as exc:
        raise ServiceError("nvidia-pytriton is not installed", hint="run `bash scripts/setup.sh`") from exc
    root = Path(pytriton.__file__).parent / "tritonserver"
    if not (root / "bin" / "tritonserver").is_file():
        raise ServiceError(f"no tritonserver binary under {root}", hint="pip install --force-reinstall nvidia-pytriton==0.7.0")
    return root


def backend_dir(state_dir: Path) -> Path:
    """A backend directory whose python/ holds the bundled backend plus the stub for this interpreter."""
    root = bundled_root()
    pyv = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stub = root / "python_backend_stubs" / pyv / "triton_python_backend_stub"
    if not stub.is_file():
        raise ServiceError(f"nvidia-pytriton has no Python backend stub for Python {pyv}")
    python_dir = state_dir / "backends" / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for item in (root / "backends" / "python").iterdir():
        link = python_dir / item.name
        if item.name != "__pycache__" and not link.exists():
            link.symlink_to(item)
    target = python_dir / stub.name
    if not target.exists():
        tmp = python_dir / (stub.name + f".tmp{os.getpid()}")
        tmp.write_bytes(stub.read_bytes())
        tmp.chmod(0o755)
        tmp.rename(target)
    return state_dir / "backends"


def server_env() -> dict[str, str]:
    """PATH with this interpreter's bin first (the stub's Python) and LD_LIBRARY_PATH to libpython."""
    bin_dir = str(Path(sys.executable).parent)
    libdirs = [str(sysconfig.get_config_var("LIBDIR") or ""), str(bundled_root().parent.parent / "nvidia_pytriton.libs")]
    ld = os.environ.get("LD_LIBRARY_PATH", "")
    return {
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "LD_LIBRARY_PATH": os.pathsep.join(libdirs) + (os.pathsep + ld if ld else ""),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TQDM_DISABLE": "1",
    }


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int

    @classmethod
    def default(cls) -> TritonPorts:
        return cls(PORTS["triton-http"], PORTS["triton-grpc"], PORTS["triton-metrics"])

    @classmethod
    def free(cls) -> TritonPorts:
        return cls(free_port(), free_port(), free_port())


@dataclass
class RunningTriton:
    proc: subprocess.Popen
    ports: TritonPorts
    repository: Path
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_argv(repository: Path, backends: Path, ports: TritonPorts, host: str = "127.0.0.1") -> list[str]:
    return [
        str(bundled_root() / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        f"--http-address={host}", f"--http-port={ports.http}",
        f"--grpc-address={host}", f"--grpc-port={ports.grpc}",
        f"--metrics-address={host}", f"--metrics-port={ports.metrics}",
        "--pinned-memory-pool-byte-size=0",   # no CUDA here: do not try to pin host memory
        "--allow-gpu-metrics=false",
        "--exit-timeout-secs=10",
        "--log-verbose=0",
    ]


def stop_server(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """SIGINT tritonserver (graceful unload), wait, then SIGKILL its whole process group (stubs included)."""
    stop_group(proc, grace, signal.SIGINT)


@contextlib.contextmanager
def triton_server(preset: str = "tuned", overrides: dict[str, str] | None = None, ports: TritonPorts | None = None,
                  state_dir: Path | None = None, repository: Path | None = None, host: str = "127.0.0.1",
                  timeout: float = 240.0) -> Iterator[RunningTriton]:
    """tritonserver on a freshly rendered repository (or on `repository` as given) until the block ends."""
    ports = ports or TritonPorts.free()
    own_tmp = None
    if state_dir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="nimlab-triton-")
        state_dir = Path(own_tmp.name)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    repo = repository or render(state_dir / "model_repository", preset, overrides)
    prepare_model_cache()
    try:
        with launched(server_argv(repo, backend_dir(state_dir), ports, host), f"http://127.0.0.1:{ports.http}",
                      "/v2/health/ready", env=server_env(), timeout=timeout,
                      log_path=state_dir / "tritonserver.log", stop_signal=signal.SIGINT, grace=20.0) as running:
            yield RunningTriton(running.proc, ports, repo, running.log_path)
    finally:
        if own_tmp is not None:
            keep = os.environ.get("NIMLAB_KEEP_TRITON_STATE")
            if not keep:
                with contextlib.suppress(OSError):
                    own_tmp.cleanup()


@contextlib.contextmanager
def openai_frontend(triton_grpc: str, port: int | None = None, model: str = "llm_bls",
                    timeout: float = 60.0) -> Iterator[Running]:
    """The OpenAI front end as its own process on 127.0.0.1:`port`, talking to Triton at `triton_grpc`."""
    port = port or free_port()
    argv = [sys.executable, "-m", "nimlab", "triton", "openai", "--host", "127.0.0.1", "--port", str(port),
            "--triton-grpc", triton_grpc, "--triton-model", model]
    with launched(argv, f"http://127.0.0.1:{port}", "/v1/health/ready", timeout=timeout) as running:
        yield running


@contextlib.contextmanager
def hand_built_stack(preset: str = "tuned", overrides: dict[str, str] | None = None, openai_port: int | None = None,
                     ports: TritonPorts | None = None) -> Iterator[tuple[RunningTriton, Running]]:
    """Triton + the OpenAI front end: point any OpenAI client at `frontend.url + "/v1"`."""
    with triton_server(preset, overrides, ports=ports) as triton, \
            openai_frontend(triton.grpc_url, port=openai_port) as frontend:
        yield triton, frontend


__all__ = ["RunningTriton", "TritonPorts", "hand_built_stack", "openai_frontend", "stop_group", "triton_server"]
