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
    from nimlab.lab import cli as lab_cli

    return lab_cli.run(args)


def _triton(args: argparse.Namespace) -> int:
    from nimlab.triton import cli as triton_cli

    return triton_cli.run(args)


def _grade(args: argparse.Namespace) -> int:
    from nimlab.grader.cli import run_export, run_grade

    return run_grade(args) if args.command == "grade" else run_export(args)


def _workshop(args: argparse.Namespace) -> int:
    from nimlab.workshop import cli

    return cli.run(args)


def _lora(args: argparse.Namespace) -> int:
    from nimlab.lora import cli as lora_cli

    return lora_cli.run(args)


def _precision(args: argparse.Namespace) -> int:
    from nimlab.precision import cli as precision_cli

    return precision_cli.run(args)


def _bench(args: argparse.Namespace) -> int:
    from nimlab.bench import cli as bench_cli

    return bench_cli.run(args)


# Examples shown under every command's --help (and on docs/reference/cli.md, generated from this parser by
# scripts/cli_reference.py). Keyed by the words after `nimlab`; tests/test_cli.py fails on a parser without one.
EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "": [("bash scripts/course.sh", "set up and start the whole course (command 1)"),
         ("nimlab lab status", "what is running, and the profile the course NIM selected"),
         ("nimlab <command> --help", "every command's options, with examples")],
    "serve": [("nimlab serve", "the course NIM on :8000; it selects a profile for this machine and logs why"),
              ("taskset -c 0 nimlab serve", "one usable CPU: the silent fallback to the generic profile"),
              ("NIM_MODEL_PROFILE=nimlab_native-cpu-fp32-tp1-pp1-throughput nimlab serve",
               "force a profile (an unknown one stops: no matching profile_id or profile description is found "
               "in manifest)"),
              ('NIM_PASSTHROUGH_ARGS="--max-num-seqs 1" nimlab serve',
               "the optimized profile misconfigured to one sequence at a time")],
    "list-model-profiles": [("nimlab list-model-profiles", "system info and which profiles can run here"),
                            ("taskset -c 0 nimlab list-model-profiles -v", "why each profile is (in)compatible")],
    "grade": [("nimlab grade --single-submission exercises", "your own exercises/ folder, as a learner"),
              ("nimlab grade -e 1 --single-submission exercises", "exercise 1 only"),
              ("nimlab grade submissions/ --csv gradebook.csv", "a folder of submissions: the CSV gradebook")],
    "grade-export": [("nimlab grade-export bundle -o learner.zip", "what learners get (no solutions)"),
                     ("nimlab grade-export gradescope -o autograder.zip", "the Gradescope autograder zip")],
    "lab": [("nimlab lab up", "start everything: site, JupyterLab, course NIM, Triton stack"),
            ("nimlab lab status --json", "the same table as JSON, for scripts"),
            ("nimlab lab logs -f nim", "follow the NIM's log until Ctrl-C"),
            ("nimlab lab doctor", "why a start fails: platform, CPUs, ports, Docker, ...")],
    "lab up": [("nimlab lab up", "everything; services already running are reused"),
               ("nimlab lab up nim docs", "only the course NIM and the site"),
               ("NIMLAB_PORT_NIM=18000 nimlab lab up", "the NIM on another port (a port is taken)"),
               ("nimlab lab up --backend docker --fallback", "the model services in Docker, NIM on 1 CPU")],
    "lab down": [("nimlab lab down", "stop everything and wait until the ports are free"),
                 ("nimlab lab down triton triton-openai", "stop only the hand-built stack")],
    "lab status": [("nimlab lab status", "state, URL and the NIM's selected profile; exit 1 unless all ready"),
                   ("nimlab lab status nim --json", "one service as JSON")],
    "lab logs": [("nimlab lab logs", "the last 200 lines of the course NIM's log"),
                 ("nimlab lab logs -f triton", "follow Triton's log like tail -f; Ctrl-C stops"),
                 ("nimlab lab logs docs -n 20", "the site's last 20 lines")],
    "lab doctor": [("nimlab lab doctor", "one line per check, each failure with its fix; exit 1 if a required one "
                                         "fails"),
                   ("nimlab lab doctor --json", "the same as JSON"),
                   ("nimlab lab doctor --gpu", "the GPU stack: a GPU and NGC_API_KEY become required")],
    "triton": [("nimlab triton up", "Triton (tuned preset) and its OpenAI front end, in the foreground"),
               ("nimlab triton render --list", "every knob and its tuned/untuned values")],
    "triton render": [("nimlab triton render --list", "the knobs and both presets"),
                      ("nimlab triton render --preset untuned --out /tmp/repo", "write the untuned repository"),
                      ("nimlab triton render --set batching_strategy=V1 --out /tmp/repo",
                       "static batching (V1 turns in-flight batching off)")],
    "triton validate": [("nimlab triton validate", "check the tuned preset as rendered"),
                        ("nimlab triton validate /tmp/repo", "check a repository you edited")],
    "triton server": [("nimlab triton server", "tritonserver on :8001-8003 until Ctrl-C"),
                      ("nimlab triton server --preset untuned --http-port 18001", "the untuned preset elsewhere")],
    "triton openai": [("nimlab triton openai --port 9000 --triton-grpc 127.0.0.1:8002",
                       "the OpenAI front end over a running Triton")],
    "triton up": [("nimlab triton up", "server and front end together; Ctrl-C stops both"),
                  ("nimlab triton up --preset untuned --openai-port 19000", "the untuned stack beside the tuned one")],
    "bench": [("nimlab bench --endpoint nim=http://127.0.0.1:8000/v1", "concurrency 1 and 8 against the NIM"),
              ("nimlab bench --endpoint nim=http://127.0.0.1:8000/v1 --endpoint triton=http://127.0.0.1:9000/v1 "
               "--concurrency 1,2,4,8", "both stacks side by side, a progress bar per sweep")],
    "lora": [("nimlab lora train --out ~/.cache/nimlab/loras/acme", "train the course's adapter (reused if done)"),
             ("nimlab lora check ~/.cache/nimlab/loras", "check adapters as the NIM will load them")],
    "lora train": [("nimlab lora train --out ~/.cache/nimlab/loras/acme", "rank 8, 20 steps on CPU"),
                   ("nimlab lora train --out /tmp/loras/json --task json-answer --steps 40", "another task")],
    "lora check": [("nimlab lora check ~/.cache/nimlab/loras", "files, base model, rank, modules, shapes")],
    "lora compare": [("nimlab lora compare ~/.cache/nimlab/loras/acme", "held-out prompts with and without it")],
    "precision": [("nimlab precision validate", "int8 against fp32: task score, agreement, speed")],
    "precision validate": [("nimlab precision validate", "int8 against fp32 at the default thresholds"),
                           ("nimlab precision validate --limit 6 --rounds 1", "a quick smoke run"),
                           ("nimlab precision validate --max-score-drop 0.02 --json report.json",
                            "stricter, with every reply saved")],
    "workshop": [("nimlab workshop up --learners ana,bo", "a room for two learners, one shared NIM"),
                 ("nimlab workshop status --json", "hub, shared NIM and every learner as JSON"),
                 ("nimlab workshop grade -o gradebook.csv", "collect every learner's work and grade it"),
                 ("nimlab workshop down --volumes", "stop the room and delete the learners' work")],
}


def examples(key: str) -> str:
    """The epilog for one command: its examples, aligned."""
    rows = EXAMPLES.get(key, [])
    return "examples:\n" + "\n".join(f"  {cmd}\n      {what}" for cmd, what in rows) if rows else ""


def _walk(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, (*words, name))


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

    from nimlab.lab import cli as lab_cli

    lab_cli.add_parser(sub, _lab)

    from nimlab.triton import cli as triton_cli

    triton_cli.add_parser(sub, _triton)

    from nimlab.bench import cli as bench_cli

    bench_cli.add_parser(sub, _bench)

    from nimlab.lora import cli as lora_cli

    lora_cli.add_parser(sub, _lora)

    from nimlab.precision import cli as precision_cli

    precision_cli.add_parser(sub, _precision)

    from nimlab.workshop import cli as workshop_cli

    workshop_cli.add_parser(sub, _workshop)
    helps = {(*words, choice.dest): choice.help or "" for words, p in _walk(parser) for action in p._actions
             if isinstance(action, argparse._SubParsersAction) for choice in action._choices_actions}
    for words, p in _walk(parser):  # every command: examples under its --help, its one-line help as description
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        p.epilog = examples(" ".join(words))
        if not p.description and helps.get(words):
            p.description = helps[words][0].upper() + helps[words][1:] + "."
    return parser


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (from `nimlab lab down`, docker stop, a CI timeout) unwinds like Ctrl-C, so every `with` block
    # that started a child process (tritonserver, a front end) stops it instead of orphaning it on a port.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = build_parser().parse_args(argv)
    # On macOS, Windows without WSL2, ARM or another Python, stop here with one line (what is needed, what to do)
    # rather than a traceback from deep inside (os.sched_getaffinity does not exist on macOS, for one).
    from nimlab.lab.doctor import unsupported

    problem = unsupported()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    try:
        return int(args.func(args) or 0)
    except NimlabError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `nimlab ... | head`: the reader left; say nothing more
        sys.stderr.close()
        return 141


if __name__ == "__main__":
    sys.exit(main())
