"""The `nimlab` command: wires subcommands to the modules that do the work (each imported only when used)."""

from __future__ import annotations

import argparse
import signal
import sys

from nimlab import __version__
from nimlab.errors import NimlabError


def _serve(args: argparse.Namespace) -> int:
    from nimlab.nim.server import serve

    return serve(host=args.host, port=args.port)


def _list_profiles(args: argparse.Namespace) -> int:
    from nimlab.nim import config, hardware
    from nimlab.nim.listing import render
    from nimlab.nim.manifest import load_manifest

    cfg = config.from_env()
    print(render(load_manifest(args.manifest or cfg.manifest_path), hardware.detect(), verbose=args.verbose))
    return 0


def _lab(args: argparse.Namespace) -> int:
    from nimlab.lab import commands

    return commands.run(args)


def _triton(args: argparse.Namespace) -> int:
    from nimlab.triton import commands

    return commands.run(args)


def _grade(args: argparse.Namespace) -> int:
    from nimlab.grader.cli import run_export, run_grade

    return run_grade(args) if args.command == "grade" else run_export(args)


def _workshop(args: argparse.Namespace) -> int:
    from nimlab.workshop import commands

    return commands.run(args)


def _lora(args: argparse.Namespace) -> int:
    from nimlab.lora import commands

    return commands.run(args)


def _precision(args: argparse.Namespace) -> int:
    from nimlab.precision import commands

    return commands.run(args)


def _bench(args: argparse.Namespace) -> int:
    from nimlab.bench import cli as bench_cli

    return bench_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nimlab", description="nimlab: take the NIM or build the stack?")
    parser.add_argument("--version", action="version", version=f"nimlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the course NIM in the foreground (NIM_* variables apply)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0, as in the container)")
    p.add_argument("--port", type=int, default=None, help="port (default NIM_SERVER_PORT or 8000)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("list-model-profiles", help="show system info and which profiles can run here")
    p.add_argument("--manifest", default=None, help="another manifest file (default: the packaged one)")
    p.add_argument("-v", "--verbose", action="store_true", help="say why for every profile")
    p.set_defaults(func=_list_profiles)

    from nimlab.grader import options as grade_options

    p = sub.add_parser("grade", help="grade submissions: a folder, a zip, or a folder of them")
    grade_options.add_grade_arguments(p)
    p.set_defaults(func=_grade)
    p = sub.add_parser("grade-export", help="write the learner bundle or the Gradescope autograder zip")
    grade_options.add_export_arguments(p)
    p.set_defaults(func=_grade)

    from nimlab.lab import commands as lab_commands

    lab_commands.add_parser(sub, _lab)

    from nimlab.triton import commands as triton_commands

    triton_commands.add_parser(sub, _triton)

    from nimlab.bench import cli as bench_cli

    bench_cli.add_parser(sub, _bench)

    from nimlab.lora import commands as lora_commands

    lora_commands.add_parser(sub, _lora)

    from nimlab.precision import commands as precision_commands

    precision_commands.add_parser(sub, _precision)

    from nimlab.workshop import commands as workshop_commands

    workshop_commands.add_parser(sub, _workshop)
    return parser


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (from `nimlab lab down`, docker stop, a CI timeout) unwinds like Ctrl-C, so every `with` block
    # that started a child process (tritonserver, a front end) stops it instead of orphaning it on a port.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NimlabError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
