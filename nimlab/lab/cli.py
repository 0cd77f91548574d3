"""`nimlab lab up|down|status|logs|doctor`: the launcher's command-line face."""

from __future__ import annotations

import argparse
import json
import sys

from nimlab.lab.backend import ServiceStatus, status_json, status_table
from nimlab.lab.services import SERVICE_NAMES

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


def _shown(found: tuple[str, str] | None) -> str:
    if found is None:
        return "-"
    return f"{found[1]} ({found[0][:12]}…)" if found[1] else found[0]


def run(args: argparse.Namespace) -> int:
    """The one dispatcher: doctor here, every other action through the chosen backend (local or docker)."""
    from nimlab.lab import backends

    names = args.services if isinstance(args.services, list) else [args.services] if args.services else []
    if args.action == "doctor":
        from nimlab.lab.doctor import as_json, report, run_checks

        checks = run_checks(gpu=args.gpu, docker=args.backend == "docker")
        text, code = report(checks)
        print(json.dumps(as_json(checks), indent=2) if args.json else text)
        return code
    backend = backends.make(args.backend, fallback=bool(getattr(args, "fallback", False)))
    if args.action == "up":
        try:
            print(backend.up(names, emit=lambda line: print(line, flush=True)))
        except KeyboardInterrupt:
            print("\ninterrupted: what started keeps starting in the background; `nimlab lab status` shows it, "
                  "`nimlab lab up` waits for it again, `nimlab lab down` stops it", file=sys.stderr)
            return 130
        return 0
    if args.action == "down":
        stopped = backend.down(names)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        statuses = backend.statuses(names)

        def profile(st: ServiceStatus) -> tuple[str, str] | None:
            return backends.nim_profile(st.url) if st.name == "nim" and st.state == "ready" else None

        if args.json:
            doc = status_json(statuses, profile)
            print(json.dumps(doc, indent=2))
            return 0 if doc["ready"] else 1
        text, code = status_table(statuses, lambda st: _shown(profile(st)) if st.name == "nim" and st.state == "ready"
                                  else "")
        print(text)
        return code
    if args.action == "logs":
        name = names[0] if names else "nim"
        if not args.follow:
            print(backend.tail(name, args.lines))
            return 0
        return backend.follow(name, args.lines, emit=lambda line: print(line, flush=True))
    print(f"unknown action {args.action}", file=sys.stderr)
    return 2
