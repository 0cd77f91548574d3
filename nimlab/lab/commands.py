"""`nimlab lab up|down|status|logs`: the launcher's command-line face."""

from __future__ import annotations

import argparse
import sys
import time

import httpx

from nimlab.errors import ServiceError
from nimlab.lab.local import LocalBackend, status_table
from nimlab.lab.services import SERVICE_NAMES, ServiceSpec, default_services


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    p = sub.add_parser("lab", help="start, stop and inspect the course's services")
    p.add_argument("action", choices=["up", "down", "status", "logs", "doctor"])
    p.add_argument("services", nargs="*", metavar="service",
                   help="up/down/status: only these services (default: all); logs: which one (default: nim)")
    p.add_argument("--backend", choices=["local", "docker"], default="local",
                   help="local processes (default, no Docker needed) or docker (compose/compose.yaml)")
    p.add_argument("--fallback", action="store_true",
                   help="docker: add compose/fallback.yaml (the NIM limited to 1 CPU: the fallback lesson)")
    p.add_argument("--gpu", action="store_true", help="doctor: GPU and NGC_API_KEY are required, not optional")
    p.set_defaults(func=func)


def _profile(url: str) -> str:
    try:
        meta = httpx.get(url + "/v1/metadata", timeout=2).json()
        return f"{meta['selectedModelProfileName']} ({meta['selectedModelProfileId'][:12]}…)"
    except (httpx.HTTPError, ValueError, KeyError):
        return "-"


def _chosen(names: list[str]) -> list[ServiceSpec]:
    unknown = sorted(set(names) - set(SERVICE_NAMES))
    if unknown:
        raise ServiceError(f"no lab service named {', '.join(unknown)}", hint="choose from: " + ", ".join(SERVICE_NAMES))
    return default_services(names)


def run(args: argparse.Namespace) -> int:
    args.service = args.services[0] if args.services else None  # the docker backend's logs reads one name
    if args.action == "doctor":
        from nimlab.lab.doctor import report, run_checks

        text, code = report(run_checks(gpu=getattr(args, "gpu", False), docker=args.backend == "docker"))
        print(text)
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
        names = [n for n in backend.names() if not args.services or n in args.services]
        stopped = [n for n in names if backend.stop(n)]
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        names = [n for n in (backend.names() or list(SERVICE_NAMES))
                 if not args.services or n in args.services]
        text, code = status_table([backend.status(n) for n in names],
                                  lambda st: _profile(st.url) if st.name == "nim" and st.state == "ready" else "")
        print(text)
        return code
    if args.action == "logs":
        print(backend.tail(args.service or "nim", 200))
        return 0
    print(f"unknown action {args.action}", file=sys.stderr)
    return 2
