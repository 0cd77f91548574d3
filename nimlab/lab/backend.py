"""The lab backend interface: what `nimlab lab` asks of local processes and of Docker containers
(nimlab.lab.backends), and the one status type and status views both return."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "ready" | "starting" | "stopped" | "failed"
    url: str
    pid: int | None
    detail: str = ""


class Backend(Protocol):
    """Where the lab's services run (nimlab.lab.backends: LocalLab, DockerLab): what `nimlab lab` asks."""

    name: str

    def up(self, names: Sequence[str], emit: Callable[[str], None]) -> str:
        """Start the named services (all when empty), wait until ready; the closing screen."""
        ...

    def down(self, names: Sequence[str]) -> list[str]:
        """Stop the named services (all when empty); the names stopped."""
        ...

    def statuses(self, names: Sequence[str]) -> list[ServiceStatus]: ...

    def tail(self, name: str, n: int) -> str: ...

    def follow(self, name: str, n: int, emit: Callable[[str], None]) -> int:
        """Print the log as it grows until Ctrl-C; the exit status."""
        ...


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
