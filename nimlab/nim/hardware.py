"""What the machine really offers this process: usable CPUs (affinity and cgroup quota), flags, memory, GPUs.

Everything is read from the kernel's view of *this* process, so `taskset -c 0` or a container limited
to one CPU (`--cpus 1`, compose `cpus: 1`) changes the facts, and with them the selected profile.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    device_id: str  # "2330:10de": PCI device:vendor, the form NIM prints and manifests match on
    memory_total_gib: float
    memory_free_gib: float
    utilization_pct: int


@dataclass(frozen=True)
class HardwareFacts:
    arch: str
    affinity_cpus: tuple[int, ...]
    cgroup_cpu_quota: float | None  # CPUs' worth of time the cgroup allows, None if unlimited
    cpu_flags: frozenset[str]
    memory_total_gib: float
    memory_available_gib: float
    cgroup_memory_limit_gib: float | None
    gpus: tuple[GpuInfo, ...]
    gpu_probe: str  # how the GPU probe ended ("no NVIDIA driver (libnvidia-ml.so not found)", "2 GPU(s)")

    @property
    def usable_cpus(self) -> float:
        n = float(len(self.affinity_cpus))
        return min(n, self.cgroup_cpu_quota) if self.cgroup_cpu_quota is not None else n

    @property
    def usable_memory_gib(self) -> float:
        if self.cgroup_memory_limit_gib is None:
            return self.memory_available_gib
        return min(self.memory_available_gib, self.cgroup_memory_limit_gib)


def detect(cgroup_root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc")) -> HardwareFacts:
    """Read the facts now. Paths are parameters so tests can point at a prepared tree."""
    total, available = _meminfo(proc / "meminfo")
    gpus, probe = _nvml_gpus()
    return HardwareFacts(
        arch=platform.machine(),
        affinity_cpus=tuple(sorted(os.sched_getaffinity(0))),
        cgroup_cpu_quota=_cgroup_cpu_quota(cgroup_root),
        cpu_flags=_cpu_flags(proc / "cpuinfo"),
        memory_total_gib=total,
        memory_available_gib=available,
        cgroup_memory_limit_gib=_cgroup_memory_limit(cgroup_root),
        gpus=gpus,
        gpu_probe=probe,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _cgroup_cpu_quota(root: Path) -> float | None:
    v2 = _read(root / "cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"
    if v2:
        quota, _, period = v2.strip().partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_s = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu,cpuacct" / "cpu.cfs_quota_us")
    period_s = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu,cpuacct" / "cpu.cfs_period_us")
    if quota_s and period_s and int(quota_s) > 0:
        return int(quota_s) / int(period_s)
    return None


def _cgroup_memory_limit(root: Path) -> float | None:
    raw = _read(root / "memory.max") or _read(root / "memory" / "memory.limit_in_bytes")
    if not raw or raw.strip() == "max":
        return None
    limit = int(raw.strip())
    return None if limit >= 1 << 60 else limit / GIB  # v1 reports "unlimited" as a huge number


def _cpu_flags(cpuinfo: Path) -> frozenset[str]:
    for line in (_read(cpuinfo) or "").splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def _meminfo(path: Path) -> tuple[float, float]:
    values: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts:
            values[key] = int(parts[0]) * 1024
    return values.get("MemTotal", 0) / GIB, values.get("MemAvailable", values.get("MemFree", 0)) / GIB


def _nvml_gpus() -> tuple[tuple[GpuInfo, ...], str]:
    """NVIDIA GPUs through NVML (nvidia-ml-py), as NIM finds them; no driver simply means no GPUs."""
    try:
        import pynvml
    except ImportError:
        return (), "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return (), f"no NVIDIA driver ({exc})"
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            pci = pynvml.nvmlDeviceGetPciInfo(h).pciDeviceId  # 0xDDDDVVVV
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            try:
                util = int(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
            except pynvml.NVMLError:
                util = 0
            name = pynvml.nvmlDeviceGetName(h)
            gpus.append(GpuInfo(
                index=i,
                name=name.decode() if isinstance(name, bytes) else str(name),
                device_id=f"{pci >> 16:04x}:{pci & 0xFFFF:04x}",
                memory_total_gib=mem.total / GIB,
                memory_free_gib=mem.free / GIB,
                utilization_pct=util,
            ))
        return tuple(gpus), f"{len(gpus)} GPU(s) via NVML"
    except pynvml.NVMLError as exc:
        return (), f"NVML error ({exc})"
    finally:
        pynvml.nvmlShutdown()
