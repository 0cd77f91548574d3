"""`nimlab lab up|down|status|logs`: the launcher's command-line face."""

from __future__ import annotations

import argparse
import sys

import httpx

from nimlab.lab.local import LocalBackend, status_table
from nimlab.lab.services import default_services

KEY_LINES = ("Selected profile", "Model loaded", "Engine warm", "Detected", "error", "Error")


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    p = sub.add_parser("lab", help="start, stop and inspect the course's services")
    p.add_argument("action", choices=["up", "down", "status", "logs", "doctor"])
    p.add_argument("service", nargs="?", help="for logs: which service (default: nim)")
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


def run(args: argparse.Namespace) -> int:
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
        for spec in default_services():
            print(f"starting {spec.name}: {spec.what} on {spec.url} (log: {backend.log_path(spec.name)})")
            backend.start(spec)

            def show(line: str, name: str = spec.name) -> None:
                if any(k in line for k in KEY_LINES):
                    print(f"  {name} | {line.split('] ', 1)[-1]}")

            backend.wait_ready(spec, progress=show)
            print(f"  {spec.name} ready")
        print("\nThe course is up:")
        for spec in default_services():
            api = "/v1" if spec.health_path.startswith("/v1") else ""
            print(f"  {spec.name:14} {spec.url}{api}   ({spec.what})")
        first = default_services()[0]
        print(f"Try:  curl -s {first.url}/v1/models   |   status: nimlab lab status   |   stop: nimlab lab down")
        return 0
    if args.action == "down":
        stopped = [n for n in backend.names() if backend.stop(n)]
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        names = backend.names() or [s.name for s in default_services()]
        text, code = status_table([backend.status(n) for n in names],
                                  lambda st: _profile(st.url) if st.name == "nim" and st.state == "ready" else "")
        print(text)
        return code
    if args.action == "logs":
        print(backend.tail(args.service or "nim", 200))
        return 0
    print(f"unknown action {args.action}", file=sys.stderr)
    return 2
