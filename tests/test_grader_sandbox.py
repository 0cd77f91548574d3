"""Hostile submissions, graded in one batch: each is contained, scored exactly, and the batch goes on."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from grader_helpers import FIXTURES, ROOT, course, reference, submission

from nimlab.grader.grade import Options, grade_batch
from nimlab.grader.reporters import summary

EX = "01-buy-or-build"
TIMEOUT = 9.0
MARKERS = ["/tmp/nimlab-hostile-marker", "/var/tmp/nimlab-hostile-marker", "/dev/shm/nimlab-hostile-marker",
           str(ROOT / "nimlab-hostile-marker"), "/run/nimlab-hostile-marker"]

# name -> (expected score out of 26, words the learner-visible feedback must contain, or None)
EXPECTED = {
    "network": (0, None),
    "read_solutions": (0, None),
    "write_outside": (26, None),
    "fork_bomb": (0, "time"),  # the call timer or the wall clock, whichever fires first under load
    "infinite_loop": (24, "ran out of time"),
    "huge_output": (26, None),
    "segfault": (0, "segmentation fault"),
    "kill_parent": (26, None),
    "sys_exit": (0, "sys.exit(0)"),
    "os_exit": (0, "exited before this test ran"),
    "forge_reports": (0, None),
    "memory_hog": (0, "MemoryError"),
    "exfiltrate": (0, None),
}


def hostile_source(name: str) -> str:
    """A hostile fragment, aimed at this checkout's own solutions wherever the suite runs from."""
    return (FIXTURES / "hostile" / f"{name}.py").read_text().replace("__REPO__", str(ROOT))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    for m in MARKERS:
        Path(m).unlink(missing_ok=True)
    ref = reference("01")
    subs = [submission(tmp, name, {f"{EX}/answer.py": ref + hostile_source(name)})
            for name in EXPECTED]
    starter = (ROOT / "exercises" / EX / "answer.py").read_text()
    subs.append(submission(tmp, "runner_patches", {
        f"{EX}/answer.py": starter,
        f"{EX}/conftest.py": "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport():\n"
                              "    outcome = yield\n    outcome.get_result().outcome = 'passed'\n",
        f"{EX}/sitecustomize.py": "import builtins\nbuiltins.NotImplementedError = type('X', (Exception,), {})\n",
        f"{EX}/usercustomize.py": "raise SystemExit(0)\n",
        f"{EX}/json.py": "dumps = lambda *a, **k: '{\"id\": \"x\", \"ok\": true}'\n",
        f"{EX}/pytest.ini": "[pytest]\naddopts = -p no:terminal\n"}))
    subs.append(submission(tmp, "zz_good_after_all_that", {f"{EX}/answer.py": ref}))
    c = course("01", timeout_s=TIMEOUT)
    threads_before = threading.active_count()
    started = time.monotonic()
    results = grade_batch(subs, c, Options(), workers=2)
    return {r.submission: r for r in results}, time.monotonic() - started, threads_before


@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_submission_is_contained_and_scored(batch, name):
    results, _, _ = batch
    res = results[name]
    score, words = EXPECTED[name]
    assert res.score == pytest.approx(score, abs=1e-6), summary(res, reveal_hidden=True)
    if words:
        text = summary(res) + "\n".join(e.message for e in res.exercises)
        assert words in text, text


def test_nothing_was_written_outside(batch):
    for m in MARKERS:
        assert not os.path.exists(m), m
    assert not list(Path("/run").glob("nimlab-grade-*/*/files"))  # job folders are removed


def test_huge_output_is_capped(batch):
    ex = batch[0]["huge_output"].exercises[0]
    assert len(ex.stdout) < 70_000 and "more bytes of output dropped" in ex.stdout


def test_runner_patches_are_never_imported(batch):
    res = batch[0]["runner_patches"]
    assert res.score == 0
    assert "NotImplementedError" in summary(res)


def test_batch_goes_on_and_stays_bounded(batch):
    results, seconds, _ = batch
    assert results["zz_good_after_all_that"].score == 26
    assert seconds < 4 * TIMEOUT + 10  # two workers; the slow ones are bounded by the wall-clock limit


def test_sandbox_has_no_network_and_no_solutions(tmp_path):
    """The mechanism itself, answered from inside: offline, unprivileged, solutions hidden, own /tmp."""
    from nimlab.grader.sandbox import Job, Part, run_job

    (tmp_path / "answer.py").write_text(
        "import os, socket\n"
        "def probe():\n"
        "    out = {'uid': os.getuid(), 'tmp': os.listdir('/tmp')}\n"
        "    try:\n"
        "        socket.create_connection(('1.1.1.1', 80), timeout=1); out['net'] = 'open'\n"
        "    except OSError as e:\n"
        "        out['net'] = e.errno\n"
        "    try:\n"
        f"        out['solutions'] = os.listdir({str(ROOT / 'solutions')!r})\n"
        "    except OSError as e:\n"
        "        out['solutions'] = e.errno\n"
        "    return out\n")
    part = Part("probe", tmp_path, "answer.py", [{"id": "p", "function": "probe"}], timeout_s=10)
    out = run_job(Job((part,), hide=(str(ROOT / "solutions"),)))
    value = out.reports["p"]["value"]
    # /tmp is private and empty, but for the checkout and venv the run needs when they live under /tmp
    carried = {p.split("/")[2] for p in (str(ROOT), sys.prefix) if p.startswith("/tmp/")}
    assert value["uid"] >= 62000 and set(value["tmp"]) == carried
    assert value["net"] == 101  # ENETUNREACH: the namespace has only its own loopback
    assert value["solutions"] == 13  # EACCES: covered by an empty, unreadable tmpfs


def test_weak_mode_still_grades_and_contains_exits(tmp_path, monkeypatch):
    """Where namespaces are unavailable (NIMLAB_SANDBOX=auto in a Gradescope container): separate processes,
    limits and another uid still grade correctly and turn an early exit into zero."""
    from nimlab.grader import sandbox

    monkeypatch.setattr(sandbox, "_mode", "weak")
    ref = reference("01")
    subs = [submission(tmp_path, "good", {f"{EX}/answer.py": ref}),
            submission(tmp_path, "exits", {f"{EX}/answer.py": ref + "\nimport os\nos._exit(0)\n"})]
    results = {r.submission: r.score for r in grade_batch(subs, course("01", timeout_s=TIMEOUT), Options())}
    assert results == {"good": 26, "exits": 0}


def test_hidden_inputs_cannot_be_smuggled_into_public_feedback(batch):
    """Hidden calls reach the learner's process only after every public call has answered, one at a time,
    and the job file and the runner's memory are out of reach: public feedback holds public inputs only."""
    import json

    import yaml

    from nimlab.grader.reporters import gradescope_results

    res = batch[0]["exfiltrate"]
    learner_view = summary(res) + json.dumps(gradescope_results(res))
    hidden = yaml.safe_load((ROOT / "solutions" / EX / "hidden_cases.yaml").read_text())
    assert all(t["call"]["args"][0]["licence_cost_per_year"] in (40000, 150000, 260000, 500000) for t in hidden)
    assert "260000" not in learner_view and "500000" not in learner_view
    assert "900000" in learner_view  # its own public inputs do come back, as they should


def test_symlinks_into_solutions_are_not_followed(tmp_path):
    """A folder or zip whose answer is a symlink to the reference solution is graded as not submitted."""
    import zipfile

    from nimlab.grader.grade import grade_submission

    target = ROOT / "solutions" / EX / "answer.py"
    sub = tmp_path / "linky" / EX
    sub.mkdir(parents=True)
    (sub / "answer.py").symlink_to(target)
    zpath = tmp_path / "linky.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        info = zipfile.ZipInfo(f"{EX}/answer.py")
        info.external_attr = 0o120777 << 16  # a symlink entry
        zf.writestr(info, str(target))
    for path in (tmp_path / "linky", zpath):
        res = grade_submission(path, course("01"))
        assert res.score == 0 and "not submitted" in res.exercises[0].message
