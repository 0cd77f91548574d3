"""A learner without root grades their own work (issue 15, item 3), run for real as an ordinary user: through
unprivileged user namespaces, through bubblewrap, and, where the kernel allows neither, in the weak sandbox with
one line saying so. The user is made with useradd; the interpreter under /root is made reachable to it the way
a normal install would be (a private mount namespace shows /root/.pyenv, nothing else of /root)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from grader_helpers import FIXTURES, ROOT, reference, submission

from nimlab.grader.sandbox import WEAK_LINE

USER = "nimlab-learner"
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="needs root to create the learner account (useradd) and setpriv")

AS_LEARNER = r'''
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def ok(rc, what):
    if rc != 0:
        raise OSError(ctypes.get_errno(), what)
no_userns, user, argv = sys.argv[1] == "1", sys.argv[2], sys.argv[3:]
ok(libc.unshare(0x00020000), "unshare mount")
ok(libc.mount(None, b"/", None, (1 << 18) | 16384, None), "private")
stage = "/tmp/.nimlab-learner-stage-%d" % os.getpid()
os.makedirs(stage, exist_ok=True)
prefix = os.path.realpath(sys.base_prefix)
if prefix.startswith("/root/"):
    ok(libc.mount(prefix.encode(), stage.encode(), None, 4096 | 16384, None), "bind python")
    ok(libc.mount(b"none", b"/root", b"tmpfs", 0, b"mode=0755"), "tmpfs /root")
    os.makedirs(prefix, exist_ok=True)
    ok(libc.mount(stage.encode(), prefix.encode(), None, 8192, None), "move python")
if no_userns:  # a kernel that allows no (more) user namespaces, for everyone below this one
    r, w = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        ok(libc.unshare(0x10000000), "unshare user")
        os.write(w2, b"u")
        os.read(r, 1)
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
        os.execvp(argv[0], argv)
    os.close(r)
    os.read(r2, 1)  # the child has its user namespace: now map every id through unchanged
    for m in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{m}", "w") as f:
            f.write("0 0 4294967295")
    os.write(w, b"x")
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
os.execvp(argv[0], argv)
'''


@pytest.fixture(scope="module")
def learner():
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
        pw = pwd.getpwnam(USER)
    work = Path(pw.pw_dir) / "nimlab-work"  # the learner's own home: nothing of root's is on the way
    shutil.rmtree(work, ignore_errors=True)
    sub = submission(work, "mywork", {"01-buy-or-build/answer.py": reference("01"),
                                      "02-cost-model/answer.py": reference("02")})
    for name in ("fork_bomb", "job_memory"):  # the learner's own mistakes must not take their machine down
        submission(work / "mistakes", name, {"01-buy-or-build/answer.py": reference("01") + (
            FIXTURES / "hostile" / f"{name}.py").read_text(), "02-cost-model/answer.py": reference("02")})
    for d, _, files in os.walk(work):
        os.chown(d, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)
    yield pw, sub
    shutil.rmtree(work, ignore_errors=True)


def grade_as_learner(learner, sandbox: str | None, no_userns: bool = False,
                     target: Path | None = None) -> subprocess.CompletedProcess:
    pw, sub = learner
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": pw.pw_dir, "LANG": "C.UTF-8"}
    if sandbox:
        env["NIMLAB_SANDBOX"] = sandbox
    cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--",
           "env", "-i", *(f"{k}={v}" for k, v in env.items()),
           str(Path(sys.executable).parent / "nimlab"), "grade", str(target or sub), "-e", "1", "-e", "2", "-q",
           "--course", str(ROOT)]
    return subprocess.run([sys.executable, "-c", AS_LEARNER, "1" if no_userns else "0", USER, *cmd],
                          capture_output=True, text=True, timeout=180, cwd=str(sub))


@pytest.mark.parametrize("sandbox", [None, "bwrap"])
def test_learner_grades_own_work_in_a_namespace_sandbox(learner, sandbox):
    """auto picks unprivileged user namespaces for an ordinary user; bwrap builds the same allow-listed view."""
    if sandbox == "bwrap" and not shutil.which("bwrap"):
        pytest.skip("bubblewrap is not installed (scripts/deps/21-bubblewrap.sh installs it)")
    p = grade_as_learner(learner, sandbox)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "== mywork: 62/62 points" in p.stdout, p.stdout + p.stderr[-2000:]
    assert WEAK_LINE not in p.stderr
    p = grade_as_learner(learner, sandbox, target=learner[1].parent / "mistakes")
    assert p.returncode == 0, p.stderr[-3000:]
    for name in ("fork_bomb", "job_memory"):  # exercise 1 stopped (processes / memory capped), exercise 2 full
        assert f"== {name}: 36/62 points" in p.stdout, p.stdout + p.stderr[-2000:]


def test_learner_without_user_namespaces_gets_the_weak_sandbox_and_one_line(learner):
    p = grade_as_learner(learner, None, no_userns=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "== mywork: 62/62 points" in p.stdout, p.stdout + p.stderr[-2000:]
    assert p.stderr.count(WEAK_LINE) == 1, p.stderr


def test_weak_sandbox_refuses_a_batch_as_the_learners_own_user(learner):
    """Two submissions, weak sandbox, no root: one could tamper with the other (same uid), so it refuses."""
    pw, sub = learner
    other = sub.parent / "someone-else"
    shutil.copytree(sub, other, dirs_exist_ok=True)
    for d, _, files in os.walk(other):
        os.chown(d, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(d, f), pw.pw_uid, pw.pw_gid)
    p = grade_as_learner(learner, None, no_userns=True, target=sub.parent)
    shutil.rmtree(other)
    assert p.returncode != 0 and "one at a time" in p.stderr, p.stdout + p.stderr[-2000:]
