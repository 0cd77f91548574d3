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
           str(ROOT / "nimlab-hostile-marker"), "/run/nimlab-hostile-marker", "/tmp/nimlab-hostile-daemon-alive",
           *(f"/run/lock/nimlab-hostile-fill-{i}" for i in range(4))]
SHM_KEY = 0x4E494D4C  # sysv_shm.py's segment

# name -> (expected score out of 26, words the learner-visible feedback must contain, or None). Each fixture
# says in its header what it scores when it escapes (checked against the grader before issue 14's fixes).
PUBLIC_POINTS = 10  # exercise 1: 10 visible tests of 1 point; hidden ones come after every public answer
EXPECTED = {
    "git_history": (0, None),  # escaped: 26 from the hidden cases in `git show HEAD:solutions/...`
    "host_view": (26, None),  # escaped: 0 (sees the checkout, /root, /run/lock ...)
    "exit_status": (18, "exited before this test ran"),  # 10 public + 8 hidden answered before its exit(4)
    "shared_lock_dir": (26, None),  # and nothing is left in /run/lock (test_nothing_was_written_outside)
    "job_memory": (0, None),  # escaped: 26 (4 x 300 MiB held at once); the cap itself: test_job_memory_...
    "sysv_shm": (26, None),  # and no segment reaches the host (test_no_ipc_or_process_outlives_its_job)
    "reporter_text": (0, None),  # and every report survives it (test_grader_reporters.py)
    "daemon": (26, None),  # and it is dead once its job is over
    "network": (0, None),
    "read_solutions": (0, None),
    "write_outside": (26, None),
    "fork_bomb": (0, "time"),  # the call timer or the wall clock, whichever fires first under load
    "infinite_loop": (24, "ran out of time"),
    "huge_output": (26, None),
    "segfault": (0, "segmentation fault"),
    "kill_parent": (26, None),
    "sys_exit": (0, "sys.exit()"),
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


def _own_uids() -> range:
    """The sandbox uid range this test process holds (other graders on the machine have their own)."""
    from nimlab.grader import sandbox

    free = sandbox._pool.free or []
    lo = min(free) // sandbox.UIDS_PER_SLOT * sandbox.UIDS_PER_SLOT if free else 0
    return range(lo, lo + sandbox.UIDS_PER_SLOT) if free else range(0)


def _sandbox_pids(uids: range | None = None) -> list[int]:
    """Processes whose uid is in `uids` (default: this process's own sandbox range)."""
    uids = _own_uids() if uids is None else uids
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/status") as f:
                    uid = int(next(x for x in f if x.startswith("Uid:")).split()[1])
            except (OSError, StopIteration):
                continue
            if uid in uids:
                found.append(int(d))
    return found


def test_nothing_was_written_outside(batch):
    time.sleep(0.3)  # the daemon, had it survived, writes its heartbeat every 50 ms
    for m in MARKERS:
        assert not os.path.exists(m), m
    assert not list(Path("/run").glob("nimlab-grade-*/*/files"))  # job folders are removed


def test_no_ipc_or_process_outlives_its_job(batch):
    """The SysV segment sysv_shm.py made lived in its job's own IPC namespace; the daemon died with its job."""
    with open("/proc/sysvipc/shm") as f:
        keys = {int(line.split()[0]) for line in list(f)[1:]}
    assert SHM_KEY not in keys
    assert _sandbox_pids() == []


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


def test_sandbox_view_is_an_allow_list(tmp_path):
    """The mechanism itself, answered from inside: offline, unprivileged, and a root that holds only the
    interpreter, its packages and the exercise's own files; no checkout, .git, home or host /run or /tmp."""
    from nimlab.grader.sandbox import Job, Part, _python_inside, run_job

    prefix = str(Path(_python_inside()).parents[1])  # the venv where the view shows it (/.python<N> from /tmp)
    (tmp_path / "answer.py").write_text(
        "import os, socket, json\n"
        "def probe():\n"
        "    out = {'uid': os.getuid(), 'tmp': os.listdir('/tmp'), 'root': sorted(os.listdir('/')),\n"
        "           'cwd': os.getcwd(), 'files': sorted(os.listdir('.'))}\n"
        "    try:\n"
        "        socket.create_connection(('1.1.1.1', 80), timeout=1); out['net'] = 'open'\n"
        "    except OSError as e:\n"
        "        out['net'] = e.errno\n"
        f"    out['seen'] = [p for p in ({str(ROOT)!r}, {str(ROOT / '.git')!r}, {str(ROOT / 'solutions')!r},\n"
        "                   '/run/lock', '/home', '/etc/shadow', '/root/.bashrc', '/var') if os.path.exists(p)]\n"
        "    out['venv'] = os.path.isdir(" + repr(prefix) + ")\n"
        "    out['writable'] = []\n"
        "    for p in ('/x', '/etc/x', '/usr/x', '/dev/x', '/dev/null', '/tmp/x', '/var/tmp/x', '/dev/shm/x',\n"
        "              '/submission/x', '/proc/x', " + repr(prefix + "/x") + "):\n"
        "        try:\n"
        "            open(p, 'w').write('1'); out['writable'].append(p)\n"
        "        except OSError:\n"
        "            pass\n"
        "    out['tmp_mb'] = 0\n"
        "    for i in range(4):\n"
        "        try:\n"
        "            open(f'/tmp/big{i}', 'wb').write(b'1' * (8 << 20)); out['tmp_mb'] += 8\n"
        "        except OSError:\n"
        "            break\n"
        "    return out\n")
    part = Part("probe", tmp_path, "answer.py", [{"id": "p", "function": "probe"}], timeout_s=10)
    out = run_job(Job((part,)))
    value = out.reports["p"]["value"]
    assert 62000 <= value["uid"] < 65000 and value["tmp"] == []
    assert value["net"] == 101  # ENETUNREACH: the namespace has only its own loopback
    assert value["cwd"] == "/submission" and value["files"] == ["answer.py"]
    assert value["venv"] is True
    assert value["writable"] == ["/dev/null", "/tmp/x", "/var/tmp/x", "/dev/shm/x", "/submission/x"]
    assert value["tmp_mb"] == 16  # /tmp is a 16 MiB tmpfs of this exercise's own: the third 8 MiB file fails
    allowed = {".runner", ".stage", ".svc", "bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin",
               "submission", "tmp", "usr", "var"} | {p.split("/")[1] for p in (prefix, sys.base_prefix)}
    assert set(value["root"]) <= allowed, set(value["root"]) - allowed
    seen = set(value["seen"])
    if ROOT.parent == Path(sys.prefix).parents[1]:
        seen.discard(str(ROOT))  # an empty folder on the way to the venv (ROOT/.venv), nothing of the checkout
    assert seen == {"/var"} or seen == set(), seen  # /var holds only the empty /var/tmp mount point


@pytest.mark.parametrize("cgroups", ["on", "off"])
def test_job_memory_is_capped_as_a_whole(tmp_path, monkeypatch, cgroups):
    """Three processes of 128 MiB each stay under every per-process limit; a 256 MiB job cap stops them, by the
    job's cgroup where the host allows one, else by the grader's own accounting (NIMLAB_CGROUPS=off)."""
    from nimlab.grader.sandbox import Job, Limits, Part, run_job

    monkeypatch.setenv("NIMLAB_CGROUPS", cgroups)
    (tmp_path / "answer.py").write_text(
        "import os, time\n"
        "def hog():\n"
        "    kids = []\n"
        "    for _ in range(3):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            b = b'1' * (128 << 20); time.sleep(1); os._exit(0)\n"
        "        kids.append(pid)\n"
        "    return [os.waitpid(p, 0)[1] for p in kids]\n")
    part = Part("hog", tmp_path, "answer.py", [{"id": "h", "function": "hog"}], timeout_s=20, call_timeout_s=15)
    out = run_job(Job((part,), Limits(job_memory_mb=256)))
    survived = out.reports.get("h", {}).get("value")
    assert out.memory_exceeded, (survived, out.parts)
    assert survived != [0, 0, 0]
    assert run_job(Job((part,), Limits(job_memory_mb=768))).reports["h"]["value"] == [0, 0, 0]


def test_weak_mode_as_root_grades_kills_daemons_and_reaches_python_under_root(tmp_path, monkeypatch):
    """Gradescope's mode: no namespaces, but still another uid per exercise (never the grader's own), the
    interpreter found although it lives under /root, and no process of a submission left once its job ends."""
    from nimlab.grader import sandbox

    monkeypatch.setattr(sandbox, "_mode", "weak")
    ref = reference("01")
    for m in MARKERS:
        Path(m).unlink(missing_ok=True)
    subs = [submission(tmp_path, "good", {f"{EX}/answer.py": ref}),
            submission(tmp_path, "exits", {f"{EX}/answer.py": ref + "\nimport os\nos._exit(0)\n"}),
            submission(tmp_path, "daemon", {f"{EX}/answer.py": ref + hostile_source("daemon")}),
            submission(tmp_path, "later", {f"{EX}/answer.py": ref})]
    results = {r.submission: r.score for r in grade_batch(subs, course("01", timeout_s=TIMEOUT), Options(), workers=1)}
    assert results == {"good": 26, "exits": 0, "daemon": 26, "later": 26}
    assert _sandbox_pids() == []
    Path("/tmp/nimlab-hostile-daemon-alive").unlink(missing_ok=True)
    time.sleep(0.3)
    assert not Path("/tmp/nimlab-hostile-daemon-alive").exists()  # no daemon left to write it again


def test_leaks_across_exercises_of_one_job_are_closed(tmp_path):
    """Exercise 1's code cannot reach exercise 2's calls (no forked runner holding them) nor hand exercise 2
    anything through /tmp, /var/tmp or /dev/shm: both score full marks and no feedback carries the other's data.
    A memory hog in exercise 1 costs exercise 1 only; a nesting bomb written onto its answer channel is
    skipped like any line that answers no outstanding call."""
    import json

    from nimlab.grader.reporters import gradescope_results

    subs = [submission(tmp_path, "tmp_relay", {f"{EX}/answer.py": reference("01") + hostile_source("tmp_relay"),
                                               "02-cost-model/answer.py": reference("02") + hostile_source("tmp_relay_02")}),
            submission(tmp_path, "runner_memory", {f"{EX}/answer.py": reference("01") + hostile_source("runner_memory"),
                                                   "02-cost-model/answer.py": reference("02")})]
    hog = submission(tmp_path, "job_memory", {f"{EX}/answer.py": reference("01") + hostile_source("job_memory"),
                                               "02-cost-model/answer.py": reference("02")})
    deep = submission(tmp_path, "deep_json", {f"{EX}/answer.py": reference("01") + hostile_source("deep_json"),
                                              "02-cost-model/answer.py": reference("02")})
    expect = {"job_memory": [0, 36], "deep_json": [26, 36]}  # stopped / its junk line skipped; 2 runs on
    for res in grade_batch([*subs, hog, deep], course("01", "02"), Options(), workers=2):
        if res.submission in expect:
            assert [e.score for e in res.exercises] == expect[res.submission], summary(res, reveal_hidden=True)
            continue
        view = summary(res) + json.dumps(gradescope_results(res))
        assert res.score == 62, summary(res, reveal_hidden=True)
        assert "licence_per_gpu_year" not in view and "licence_cost_per_year" not in view


def test_two_graders_at_once_give_every_honest_submission_full_marks(tmp_path):
    """Two grader processes, each with fork bombs, memory hogs, daemons and SysV leftovers between honest
    submissions: uid ranges are per grader (a lock file each), so neither run costs the other a point."""
    import json
    import subprocess

    hostile = ["fork_bomb", "job_memory", "daemon", "sysv_shm"]
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from grader_helpers import course\n"
        "from nimlab.grader.grade import Options, grade_batch\n"
        "subs = sorted(Path(sys.argv[1]).iterdir())\n"
        "res = grade_batch(subs, course('01', timeout_s=float(sys.argv[2])), Options(), workers=2)\n"
        "from nimlab.grader import sandbox\n"
        "print(json.dumps({'uids': min(sandbox._pool.free), 'scores': {r.submission: r.score for r in res}}))\n")
    runs = []
    for g in ("a", "b"):
        folder = tmp_path / g
        for i, name in enumerate(hostile):
            submission(folder, f"{i}-{name}", {f"{EX}/answer.py": reference("01") + hostile_source(name)})
            submission(folder, f"{i}-honest", {f"{EX}/answer.py": reference("01")})
        runs.append(subprocess.Popen([sys.executable, "-c", script, str(folder), str(TIMEOUT), str(Path(__file__).parent)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
    starts = []
    for p in runs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]
        doc = json.loads(out.strip().splitlines()[-1])
        scores = doc["scores"]
        starts.append(doc["uids"] // 100 * 100)
        honest = {k: v for k, v in scores.items() if k.endswith("-honest")}
        assert honest == {f"{i}-honest": 26 for i in range(len(hostile))}, scores
        assert scores["1-job_memory"] == 0 and scores["2-daemon"] == 26 and scores["3-sysv_shm"] == 26, scores
    assert starts[0] != starts[1]  # a uid range each
    for lo in starts:
        assert _sandbox_pids(range(lo, lo + 100)) == []


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


def test_only_the_bridged_service_is_reachable(tmp_path):
    """A live service the manifest names answers on its own 127.0.0.1 port inside; another service listening on
    the host's loopback does not (the sandbox's loopback is its own)."""
    import http.server

    from nimlab.grader.sandbox import Job, Part, run_job

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the bridged service")

        def log_message(self, *args: object) -> None:
            pass

    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    bridged, other = (f"http://127.0.0.1:{s.server_port}" for s in servers)
    (tmp_path / "answer.py").write_text(
        "import urllib.request\n"
        "def fetch(url):\n"
        "    try:\n"
        "        return urllib.request.urlopen(url, timeout=3).read().decode()\n"
        "    except OSError as e:\n"
        "        return type(e).__name__\n")
    calls = [{"id": "a", "function": "fetch", "args": [bridged + "/"]},
             {"id": "b", "function": "fetch", "args": [other + "/"]}]
    try:
        for _ in range(3):  # the pipe numbering once depended on how many sockets the bridges had opened
            out = run_job(Job((Part("svc", tmp_path, "answer.py", calls, timeout_s=15),), services=(bridged,)))
            assert out.reports["a"]["value"] == "hello from the bridged service", out.reports
            assert out.reports["b"]["value"] == "URLError", out.reports
    finally:
        for s in servers:
            s.shutdown()
