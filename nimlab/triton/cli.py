"""`nimlab triton ...`: render, validate, server, openai, up. Heavy imports happen inside each command."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from nimlab.errors import ConfigError
from nimlab.ports import PORTS


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    p = sub.add_parser("triton", help="the hand-built stack: real Triton server, model repository, OpenAI front end")
    tsub = p.add_subparsers(dest="triton_command", required=True, metavar="ACTION")

    def preset_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--preset", default="tuned", help="tuned (default) or untuned")
        q.add_argument("--set", action="append", metavar="NAME=VALUE", help="override one knob (repeatable)")

    def port_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--http-port", type=int, default=PORTS["triton-http"])
        q.add_argument("--grpc-port", type=int, default=PORTS["triton-grpc"])
        q.add_argument("--metrics-port", type=int, default=PORTS["triton-metrics"])
        q.add_argument("--state-dir", default=None, help="where the rendered repository and log go (default: temp)")

    q = tsub.add_parser("render", help="fill the repository's ${placeholders} from a preset into --out")
    preset_args(q)
    q.add_argument("--out", default=None, help="target folder (replaced)")
    q.add_argument("--list", action="store_true", help="print the knobs and preset values instead")

    q = tsub.add_parser("validate", help="check config.pbtxt files (real schema + semantic traps)")
    q.add_argument("repository", nargs="?", default=None, help="a rendered repository (default: render the preset)")
    preset_args(q)

    q = tsub.add_parser("server", help="run tritonserver on a rendered repository in the foreground")
    preset_args(q)
    port_args(q)

    q = tsub.add_parser("openai", help="run the OpenAI front end over a running Triton")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=PORTS["triton-openai"])
    q.add_argument("--triton-grpc", default=f"127.0.0.1:{PORTS['triton-grpc']}")
    q.add_argument("--triton-model", default="llm_bls", help="llm_bls (default) or ensemble")

    q = tsub.add_parser("up", help="Triton + OpenAI front end in the foreground (Ctrl-C stops both)")
    preset_args(q)
    port_args(q)
    q.add_argument("--openai-port", type=int, default=PORTS["triton-openai"])
    p.set_defaults(func=func)


def run(args: argparse.Namespace) -> int:
    from nimlab.triton.render import parse_overrides

    action = args.triton_command
    if action == "render":
        from nimlab.triton.render import KNOBS, PRESETS, render

        if args.list:
            for knob, what in KNOBS.items():
                values = "  ".join(f"{p}={v[knob]}" for p, v in PRESETS.items())
                print(f"{knob:40s} {values}\n    {what}")
            return 0
        if not args.out:
            raise ConfigError("render needs --out DIR", hint="nimlab triton render --preset tuned --out /tmp/repo")
        out = render(Path(args.out), args.preset, parse_overrides(args.set))
        print(f"rendered preset {args.preset!r} into {out}")
        return 0
    if action == "validate":
        return _validate(args)
    if action == "openai":
        from nimlab.triton.frontend import serve

        return serve(args.host, args.port, args.triton_grpc, args.triton_model)
    if action in ("server", "up"):
        return _foreground(args, with_frontend=action == "up")
    raise ConfigError(f"unknown action {action!r}")


def _validate(args: argparse.Namespace) -> int:
    from nimlab.triton.render import parse_overrides, render
    from nimlab.triton.validate import errors, validate_repository

    with tempfile.TemporaryDirectory(prefix="nimlab-validate-") as tmp:
        repo = Path(args.repository) if args.repository else render(Path(tmp) / "repo", args.preset,
                                                                     parse_overrides(args.set))
        problems = validate_repository(repo)
        for p in problems:
            print(p)
        bad = errors(problems)
        print(f"{repo}: {len(bad)} error(s), {len(problems) - len(bad)} warning(s)")
        return 1 if bad else 0


def _foreground(args: argparse.Namespace, with_frontend: bool) -> int:
    import contextlib

    from nimlab.triton.launcher import TritonPorts, openai_frontend, triton_server
    from nimlab.triton.render import parse_overrides

    ports = TritonPorts(args.http_port, args.grpc_port, args.metrics_port)
    state = Path(args.state_dir) if args.state_dir else None
    with contextlib.ExitStack() as stack:
        triton = stack.enter_context(triton_server(args.preset, parse_overrides(args.set), ports=ports, state_dir=state))
        print(f"Triton ready (preset {args.preset}): HTTP {triton.http_url}  gRPC {triton.grpc_url}  "
              f"metrics {triton.metrics_url}  log {triton.log_path}", flush=True)
        if with_frontend:
            fe = stack.enter_context(openai_frontend(triton.grpc_url, port=args.openai_port))
            print(f"OpenAI API ready: {fe.url}/v1  (model HuggingFaceTB/SmolLM2-135M-Instruct)", flush=True)
        try:
            while triton.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopping...", file=sys.stderr)
            return 0
        print(f"tritonserver exited with status {triton.proc.returncode}; see {triton.log_path}", file=sys.stderr)
        return 1
