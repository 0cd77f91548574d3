"""The two lab backends behind one interface (nimlab.lab.backend.Backend): local processes and Docker
containers. `nimlab lab` has one dispatcher (nimlab.lab.cli) that talks to whichever `make` returns;
Docker's module is imported only when asked for."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from nimlab.errors import ServiceError
from nimlab.lab.backend import Backend, ServiceStatus
from nimlab.lab.local import LocalBackend
from nimlab.lab.services import SERVICE_NAMES, ServiceSpec, default_services
from nimlab.nim.client import running_profile

Emit = Callable[[str], None]


def nim_profile(url: str) -> tuple[str, str] | None:
    """(id, name) of the NIM's selected profile: the published id, named from the manifest (empty if unknown).
    Both backends ask this one way (nimlab.nim.client)."""
    found = running_profile(url, timeout=2) if url else None
    return None if found is None else (found.id, found.name or "")


def chosen(names: Sequence[str]) -> list[ServiceSpec]:
    unknown = sorted(set(names) - set(SERVICE_NAMES))
    if unknown:
        raise ServiceError(f"no lab service named {', '.join(unknown)}", hint="choose from: " + ", ".join(SERVICE_NAMES))
    return default_services(names)


def follow(path: Path, lines: int = 200, poll_s: float = 0.25,
           keep_going: Callable[[], bool] = lambda: True) -> Iterator[str]:
    """The last `lines` lines of a log, then every line appended to it, as `tail -f` (a log started afresh by a
    restart is read again from its beginning). Runs until keep_going() is false or Ctrl-C."""
    pos = 0
    try:
        text = path.read_bytes()
        yield from text.decode(errors="replace").splitlines()[-lines:] if lines else []
        pos = len(text)
    except OSError:
        pass
    partial = b""
    while keep_going():
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size < pos:  # truncated or replaced: start over
            pos, partial = 0, b""
        if size > pos:
            with path.open("rb") as f:
                f.seek(pos)
                chunk = f.read(size - pos)
            pos += len(chunk)
            *done, partial = (partial + chunk).split(b"\n")
            for line in done:
                yield line.decode(errors="replace")
        else:
            time.sleep(poll_s)


class LocalLab:
    """The course's services as processes of this machine (nimlab.lab.local), started in dependency order."""

    name = "local"

    def __init__(self, processes: LocalBackend | None = None) -> None:
        self.processes = processes or LocalBackend()

    def up(self, names: Sequence[str], emit: Emit) -> str:
        from nimlab.lab.progress import bring_up
        from nimlab.lab.welcome import screen

        began = time.monotonic()
        specs = chosen(names)
        outcomes = bring_up(self.processes, specs, emit=emit)
        return "\n" + screen(specs, outcomes, time.monotonic() - began)

    def down(self, names: Sequence[str]) -> list[str]:
        return [n for n in self.processes.names() if (not names or n in names) and self.processes.stop(n)]

    def statuses(self, names: Sequence[str]) -> list[ServiceStatus]:
        return [self.processes.status(n) for n in (self.processes.names() or list(SERVICE_NAMES))
                if not names or n in names]

    def tail(self, name: str, n: int) -> str:
        self._known(name)
        return self.processes.tail(name, n)

    def follow(self, name: str, n: int, emit: Emit) -> int:
        self._known(name)
        try:
            for line in follow(self.processes.log_path(name), n):
                emit(line)
        except KeyboardInterrupt:
            return 0
        return 0

    @staticmethod
    def _known(name: str) -> None:
        if name not in SERVICE_NAMES:
            raise ServiceError(f"no lab service named {name}", hint="choose from: " + ", ".join(SERVICE_NAMES))


class DockerLab:
    """The course's services as containers of compose/compose.yaml (nimlab.lab.docker)."""

    name = "docker"

    def __init__(self, fallback: bool = False) -> None:
        from nimlab.lab.docker import DockerBackend

        self.compose = DockerBackend(["compose.yaml", *(["fallback.yaml"] if fallback else [])])

    def up(self, names: Sequence[str], emit: Emit) -> str:
        from nimlab.lab.docker import WHAT

        c = self.compose
        emit(f"starting the lab stack with Docker (project {c.project}: {', '.join(f.name for f in c.files)}); "
             "waits until every service is healthy")

        def show(line: str) -> None:
            if line.startswith("Container") and line.split()[-1] in ("Started", "Healthy", "Running", "Error"):
                emit(f"  {line}")

        c.up(names, progress=show)
        statuses = c.statuses()
        nim_url = next((st.url for st in statuses if st.name == "nim" and st.url), "http://127.0.0.1:8000")
        prof = nim_profile(nim_url)
        if prof:
            emit(f"  nim | Selected profile: {prof[0]} ({prof[1]})")
        lines = ["", "The course is up (Docker):"]
        lines += [f"  {st.name:14} {st.url}{'/v1' if st.name != 'triton' else ''}   ({WHAT.get(st.name, '')})"
                  for st in statuses]
        lines.append(f"Try:  curl -s {nim_url}/v1/models   |   stop with: nimlab lab down --backend docker")
        return "\n".join(lines)

    def down(self, names: Sequence[str]) -> list[str]:
        if names:
            return [n for n in names if self.compose.stop(n)]
        return self.compose.down()

    def statuses(self, names: Sequence[str]) -> list[ServiceStatus]:
        return [st for st in self.compose.statuses() if not names or st.name in names]

    def tail(self, name: str, n: int) -> str:
        return self.compose.tail(name, n)

    def follow(self, name: str, n: int, emit: Emit) -> int:
        return self.compose.follow(name, n)


def make(kind: str, fallback: bool = False) -> Backend:
    """The backend `--backend` names; Docker's code is imported only when it is the one asked for."""
    if kind == "docker":
        return DockerLab(fallback)
    if kind != "local":
        raise ServiceError(f"no lab backend named {kind!r}", hint="use --backend local or --backend docker")
    return LocalLab()
