"""`nimlab lab up|down|status|logs|doctor`: the launcher's command-line face."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from nimlab.errors import ServiceError
from nimlab.lab.backend import status_json, status_table
from nimlab.lab.local import LocalBackend
from nimlab.lab.services import SERVICE_NAMES, ServiceSpec, default_services

ACTIONS = {
    "up": "start the course's services (all, or the ones named) and wait until each is ready",
    "down": "stop what `lab up` started and wait until every port is free",
    "status": "each service: state, URL and, for the NIM, the selected profile (exit 1 unless all are ready)",
    "logs": "a service's log (default: nim); -f follows it like tail -f until Ctrl-C",
    "doctor": "is this machine ready? platform, Python, CPUs, memory, disk, ports, Docker, GPU, NGC key",
}


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    p = sub.add_parser("lab", help="start, stop and inspect the course's services",
                       description="The course's services on this machine: the site (:8080), JupyterLab (:8888), "
                                   "the course NIM (:8000) and the hand-built Triton stack (:8001-8003, :9000). "
                                   "Ports move with NIMLAB_PORT_<NAME> variables (`nimlab lab doctor` names them).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    backend = argparse.ArgumentParser(add_help=False)
    backend.add_argument("--backend", choices=["local", "docker"], default="local",
                         help="local processes (default, no Docker needed) or docker (compose/compose.yaml)")
    for name, what in ACTIONS.items():
        a = actions.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".",
                               parents=[] if name == "doctor" else [backend])
        a.set_defaults(func=func, services=[], fallback=False, gpu=False, json=False, follow=False, lines=200,
                       backend="local")
        if name in ("up", "down", "status"):
            a.add_argument("services", nargs="*", metavar="service",
                           help=f"only these services (default: all): {', '.join(SERVICE_NAMES)}")
        if name in ("up", "down"):
            a.add_argument("--fallback", action="store_true",
                           help="docker: add compose/fallback.yaml (the NIM limited to 1 CPU: the fallback lesson)")
        if name == "logs":
            a.add_argument("services", nargs="?", metavar="service", default=None,
                           help="which service (default: nim)")
            a.add_argument("-f", "--follow", action="store_true",
                           help="keep printing new lines as they are written, like tail -f (Ctrl-C stops)")
            a.add_argument("-n", "--lines", type=int, default=200, help="how many of the last lines to show first")
        if name == "doctor":
            a.add_argument("--gpu", action="store_true", help="GPU and NGC_API_KEY are required, not optional")
            a.add_argument("--backend", choices=["local", "docker"], default="local",
                           help="docker: the Docker engine and Compose CLI are required, not optional")
        if name in ("status", "doctor"):
            a.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def _profile(url: str) -> tuple[str, str] | None:
    """(id, name) of the NIM's selected profile: the published id, named from the manifest (empty if unknown)."""
    from nimlab.nim.client import running_profile

    found = running_profile(url, timeout=2)
    return None if found is None else (found.id, found.name or "")


def _shown(found: tuple[str, str] | None) -> str:
    if found is None:
        return "-"
    return f"{found[1]} ({found[0][:12]}…)" if found[1] else found[0]


def _chosen(names: list[str]) -> list[ServiceSpec]:
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


def run(args: argparse.Namespace) -> int:
    names = args.services if isinstance(args.services, list) else [args.services] if args.services else []
    args.services = names
    args.service = names[0] if names else None  # the docker backend's logs reads one name
    if args.action == "doctor":
        from nimlab.lab.doctor import as_json, report, run_checks

        checks = run_checks(gpu=args.gpu, docker=args.backend == "docker")
        text, code = report(checks)
        print(json.dumps(as_json(checks), indent=2) if args.json else text)
        return code
    if args.backend == "docker":
        from nimlab.lab.docker import run_docker

        return run_docker(args)
    backend = LocalBackend()
    if args.action == "up":
        from nimlab.lab.progress import bring_up
        from nimlab.lab.welcome import screen

        began = time.monotonic()
        specs = _chosen(args.services)
        try:
            outcomes = bring_up(backend, specs, emit=lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            print("\ninterrupted: what started keeps starting in the background; `nimlab lab status` shows it, "
                  "`nimlab lab up` waits for it again, `nimlab lab down` stops it", file=sys.stderr)
            return 130
        print("\n" + screen(specs, outcomes, time.monotonic() - began))
        return 0
    if args.action == "down":
        stopped = [n for n in backend.names() if (not args.services or n in args.services) and backend.stop(n)]
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        names = [n for n in (backend.names() or list(SERVICE_NAMES)) if not args.services or n in args.services]
        statuses = [backend.status(n) for n in names]
        if args.json:
            doc = status_json(statuses, lambda st: _profile(st.url))
            print(json.dumps(doc, indent=2))
            return 0 if doc["ready"] else 1
        text, code = status_table(statuses,
                                  lambda st: _shown(_profile(st.url)) if st.name == "nim" and st.state == "ready" else "")
        print(text)
        return code
    if args.action == "logs":
        name = args.service or "nim"
        if name not in SERVICE_NAMES:
            raise ServiceError(f"no lab service named {name}", hint="choose from: " + ", ".join(SERVICE_NAMES))
        if not args.follow:
            print(backend.tail(name, args.lines))
            return 0
        try:
            for line in follow(backend.log_path(name), args.lines):
                print(line, flush=True)
        except KeyboardInterrupt:
            return 0
        return 0
    print(f"unknown action {args.action}", file=sys.stderr)
    return 2
