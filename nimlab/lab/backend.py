"""The lab backend interface: what `nimlab lab` asks of local processes (nimlab.lab.local) and of Docker
containers (nimlab.lab.docker), and the one status type and status views both return."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from nimlab.lab.services import ServiceSpec


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "ready" | "starting" | "stopped" | "failed"
    url: str
    pid: int | None
    detail: str = ""


class Backend(Protocol):
    """Where the lab's services run. `up`/`down` of the CLI are built on these calls."""

    name: str

    def start(self, spec: ServiceSpec) -> int: ...

    def stop(self, name: str, timeout: float = 15.0) -> bool: ...

    def status(self, name: str) -> ServiceStatus: ...

    def names(self) -> list[str]: ...

    def tail(self, name: str, n: int = 50) -> str: ...


def status_table(statuses: Sequence[ServiceStatus], profile: Callable[[ServiceStatus], str]) -> tuple[str, int]:
    """The `nimlab lab status` table for any backend, and its exit status (0 only when every service is ready)."""
    lines = [f"{'service':14} {'state':9} {'url':26} profile"]
    lines += [f"{st.name:14} {st.state:9} {st.url or '-':26} {profile(st)} {st.detail}".rstrip() for st in statuses]
    return "\n".join(lines), 0 if all(st.state == "ready" for st in statuses) else 1


def status_json(statuses: Sequence[ServiceStatus],
                profile: Callable[[ServiceStatus], tuple[str, str] | None]) -> dict:
    """`nimlab lab status --json`: every service as the table shows it, plus `ready` (all of them ready)."""
    out = []
    for st in statuses:
        row = asdict(st)
        found = profile(st) if st.name == "nim" and st.state == "ready" else None
        row["profile"] = {"id": found[0], "name": found[1]} if found else None
        out.append(row)
    return {"ready": all(st.state == "ready" for st in statuses), "services": out}
