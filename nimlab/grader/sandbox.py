"""Run one job (every exercise of one submission) isolated, and always come back with an outcome.

Isolation, from the outside in (modes: `sandbox_mode`):
  * new net, mount, pid, IPC and UTS namespaces (`unshare`; as an ordinary user inside a user namespace, or
    bubblewrap), killed as a whole on timeout; the job's processes sit in their own cgroup (memory and pid
    limits for the job as a whole) where the host allows it, else a watchdog adds up their memory;
  * an allow-listed view: a new root holding only read-only bind mounts of the interpreter and its packages,
    the job's files and the bridged service sockets; no checkout, no .git, no home, no host /run or /tmp;
  * each exercise in a fresh interpreter (fork + isolate + exec) that is handed only its own calls, one at a
    time, with its own mount and IPC namespaces and private size-capped /tmp, /var/tmp, /dev/shm and files;
  * a uid unique across every grader process on the machine (a per-grader range held by a lock file), every
    leftover of which (processes, SysV IPC, files in shared folders) is removed before it is used again;
  * rlimits, a minimal environment and `python -I` (no sitecustomize, no user site, no script dir on sys.path).
The grader reads call reports from a pipe and scores them itself: the sandbox never sees expected values.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimlab.errors import ServiceError
from nimlab.grader import _bootstrap

HERE = Path(__file__).resolve().parent
UID_BASE, UID_SLOTS, UIDS_PER_SLOT = 62000, 30, 100  # 62000..64999, one range of 100 per grader process
SANDBOX_GID = 61999  # weak mode: the only group of sandbox uids, allowed to traverse to the interpreter
MODES = ("auto", "namespaces", "userns", "bwrap", "weak")
_root: Path | None = None


@dataclass(frozen=True)
class Limits:
    """Limits for the whole job; each part (exercise) also has its own time and memory limits."""

    fsize_mb: int = 16
    nproc: int = 128
    nofile: int = 256
    job_memory_mb: int = 768  # resident memory of all the job's processes together
    job_pids: int = 160


@dataclass(frozen=True)
class Part:
    """The calls of one exercise on the learner's files for it, run in that exercise's own interpreter."""

    name: str
    files: Path  # the learner's files for this exercise (already a sanitized copy)
    entry: str  # relative to files
    calls: list[dict[str, Any]]
    timeout_s: float = 30.0
    call_timeout_s: float = 10.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class Job:
    parts: tuple[Part, ...]
    limits: Limits = Limits()
    hide: tuple[str, ...] = ()  # kept for callers; the allow-listed view shows none of the host anyway
    services: tuple[str, ...] = ()  # base URLs (http://127.0.0.1:PORT) reachable from inside


SIGNAL_WORDS = {signal.SIGXFSZ: "it wrote more data than allowed", signal.SIGXCPU: "it used too much CPU time",
                signal.SIGKILL: "it was killed (out of memory or limits)",
                signal.SIGSEGV: "it crashed (segmentation fault)", signal.SIGABRT: "it aborted"}


@dataclass
class Outcome:
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    finished: bool = False
    timed_out: bool = False
    memory_exceeded: bool = False
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0

    def part_output(self, name: str) -> str:
        marker = f"=== nimlab part: {name} ===\n"
        if marker not in self.output:
            return ""
        return self.output.split(marker, 1)[1].split("\n=== nimlab part: ", 1)[0]

    def stop_reason(self, name: str) -> str:
        """Learner-facing words for why this part's calls without a report never ran ("" if it ended normally).
        Never a number the submission chose (an exit status or a signal it sent itself could carry data)."""
        st = self.parts.get(name)
        if self.memory_exceeded:
            return "your code's processes together used more memory than the job may (the grader stopped it)"
        if st is None:
            if self.timed_out:
                return "your code ran past the time limit, so the grader stopped it"
            return "the grader's sandbox stopped before this exercise ran (your instructor has the details)"
        if st["status"] == "timeout":
            return "your code ran past the time limit, so the grader stopped it"
        if st["status"] == "signal":
            return "your program stopped early: " + SIGNAL_WORDS.get(st["signal"], "it was stopped by a signal")
        return "your program exited before this test ran"


# ---- which sandbox ----------------------------------------------------------------------------------------------

_mode: str | None = None
_mode_lock = threading.Lock()
NS_FLAGS = ["--net", "--mount", "--pid", "--ipc", "--uts", "--cgroup", "--fork", "--kill-child"]
WEAK_LINE = ("[nimlab grade] no namespaces and no bubblewrap here: using the weak sandbox (separate processes and "
             "limits only; fine for grading your own work, not for others' submissions)")
WEAK_LINE_ROOT = ("[nimlab grade] namespaces are unavailable here: using the weak sandbox (a throwaway uid, separate "
                  "processes and limits per exercise; the container must isolate the rest, as Gradescope's does)")


def _probe(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _usable(mode: str) -> bool:
    if mode == "namespaces":
        return os.geteuid() == 0 and _probe(["unshare", *NS_FLAGS, "true"])
    if mode == "userns":
        return os.geteuid() != 0 and _probe(["unshare", "--user", "--map-root-user", *NS_FLAGS, "true"])
    if mode == "bwrap":
        return shutil.which("bwrap") is not None and _probe(
            ["bwrap", "--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL",
             "--as-pid-1", "--ro-bind", "/", "/", "true"])
    return mode == "weak"


def sandbox_mode() -> str:
    """The strongest sandbox this machine allows, or the one NIMLAB_SANDBOX names:
    namespaces (root + unshare), userns (an ordinary user: unshare --user --map-root-user), bwrap (bubblewrap),
    weak (separate processes, limits and, as root, other uids: for a container that is itself the sandbox,
    like Gradescope's). auto (the default) takes the first that works and says so in one line when it is weak."""
    global _mode
    with _mode_lock:
        if _mode is not None:
            return _mode
        want = os.environ.get("NIMLAB_SANDBOX", "auto")
        if want not in MODES:
            raise ServiceError(f"NIMLAB_SANDBOX={want!r}", hint="use one of " + ", ".join(MODES))
        if want != "auto":
            if not _usable(want):
                raise ServiceError(f"the {want} sandbox is unavailable here (NIMLAB_SANDBOX={want})",
                                   hint="unset NIMLAB_SANDBOX to take the strongest sandbox this machine allows")
            _mode = want
            return _mode
        order = ["namespaces"] if os.geteuid() == 0 else ["userns", "bwrap"]
        _mode = next((m for m in order if _usable(m)), "weak")
        if _mode == "weak":
            print(WEAK_LINE_ROOT if os.geteuid() == 0 else WEAK_LINE, file=sys.stderr, flush=True)
        return _mode


def grade_root() -> Path:
    """A work area other sandboxes cannot list (0711); each job gets an unguessable subfolder."""
    global _root
    if _root is None or not _root.exists():
        base = os.environ.get("NIMLAB_GRADE_ROOT") or ("/run" if os.geteuid() == 0 and os.access("/run", os.W_OK)
                                                      else None)
        _root = Path(tempfile.mkdtemp(prefix="nimlab-grade-", dir=base))
        os.chmod(_root, 0o711)
        atexit.register(shutil.rmtree, _root, True)
    return _root


# ---- uids unique across grader processes --------------------------------------------------------------------


class _UidPool:
    """A range of UIDS_PER_SLOT uids held by this grader process through an exclusive lock on a slot file, so
    two graders never share a uid; anything left by the range (a grader that died) is removed on claim, and
    each uid's leftovers are removed again before it goes back to the pool."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: list[int] | None = None
        self.fd: int | None = None

    def _claim(self) -> list[int]:
        folder = Path(os.environ.get("NIMLAB_UID_LOCKS", "/run/nimlab-grader-uids"))
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for slot in range(UID_SLOTS):
            fd = os.open(folder / f"slot-{slot:02d}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd = fd
            uids = list(range(UID_BASE + slot * UIDS_PER_SLOT, UID_BASE + (slot + 1) * UIDS_PER_SLOT))
            _bootstrap.scrub_uids(set(uids))
            return uids
        raise ServiceError(f"all {UID_SLOTS} sandbox uid ranges are held by other grader processes",
                           hint=f"wait for a grader to finish, or remove stale locks in {folder} if none runs")

    def take(self, n: int) -> list[int]:
        with self.lock:
            if self.free is None:
                self.free = self._claim()
            if len(self.free) < n:
                raise ServiceError("this grader ran out of sandbox uids", hint="grade with fewer workers (-j)")
            taken, self.free = self.free[:n], self.free[n:]
            return taken

    def give(self, uids: list[int], files: bool) -> None:
        _bootstrap.scrub_uids(set(uids), files=files)
        with self.lock:
            assert self.free is not None
            self.free.extend(uids)


_pool = _UidPool()


# ---- the job's cgroup -------------------------------------------------------------------------------------------


class _Cgroup:
    """Memory and pid limits for a whole job (cgroup v2, else v1's memory + pids hierarchies), and a kill of
    everything in it. None where the host does not let this process create cgroups."""

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    @staticmethod
    def _own(controller: str) -> str | None:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, names, path = line.rstrip("\n").split(":", 2)
                if (controller == "" and names == "") or controller in names.split(","):
                    return path
        return None

    @classmethod
    def create(cls, token: str, memory_mb: int, pids: int) -> _Cgroup | None:
        if os.geteuid() != 0 or os.environ.get("NIMLAB_CGROUPS") == "off":
            return None
        made: list[Path] = []
        try:
            mem = str(memory_mb << 20)
            if Path("/sys/fs/cgroup/cgroup.controllers").exists():
                own = cls._own("")
                d = Path("/sys/fs/cgroup" + (own or "/").rstrip("/")) / f"nimlab-{token}"
                d.mkdir()
                made.append(d)
                ctl = (d / "cgroup.controllers").read_text().split()
                if not {"memory", "pids"} <= set(ctl):
                    raise OSError("memory/pids controllers not delegated")
                (d / "memory.max").write_text(mem)
                (d / "pids.max").write_text(str(pids))
                with contextlib.suppress(OSError):
                    (d / "memory.swap.max").write_text("0")
                with contextlib.suppress(OSError):  # where the cpu controller is delegated: one CPU at most
                    (d / "cpu.max").write_text("100000 100000")
            else:
                for ctl_name, settings in (("memory", {"memory.limit_in_bytes": mem}), ("pids", {"pids.max": str(pids)})):
                    own = cls._own(ctl_name)
                    base = Path(f"/sys/fs/cgroup/{ctl_name}")
                    if own is None or not base.is_dir():
                        raise OSError(f"no {ctl_name} cgroup")
                    d = Path(str(base) + own.rstrip("/")) / f"nimlab-{token}"
                    d.mkdir()
                    made.append(d)
                    for k, v in settings.items():
                        (d / k).write_text(v)
                    if ctl_name == "memory":
                        with contextlib.suppress(OSError):
                            (d / "memory.memsw.limit_in_bytes").write_text(mem)
                cpu = cls._v1_cpu(token)
                made += [cpu] if cpu else []
            return cls(made)
        except OSError:
            cls(made).remove()
            return None

    @classmethod
    def _v1_cpu(cls, token: str) -> Path | None:
        """Best effort: a cpu cgroup of the job's own (CPU shared per job, not per process, and at most one CPU),
        so a submission's hundred spinning processes cannot starve the other jobs on the machine."""
        own, base = cls._own("cpu"), Path("/sys/fs/cgroup/cpu")
        if own is None or not base.is_dir():
            return None
        d = Path(str(base) + own.rstrip("/")) / f"nimlab-{token}"
        try:
            d.mkdir()
        except OSError:
            return None
        try:
            (d / "cpu.cfs_period_us").write_text("100000")
            (d / "cpu.cfs_quota_us").write_text("100000")
        except OSError:
            cls([d]).remove()
            return None
        return d

    def oom_killed(self) -> bool:
        for d in self.dirs:
            for name in ("memory.events", "memory.oom_control"):  # v2, v1
                with contextlib.suppress(OSError, ValueError, IndexError):
                    for line in (d / name).read_text().splitlines():
                        if line.split()[0] == "oom_kill" and int(line.split()[1]) > 0:
                            return True
        return False

    def remove(self) -> None:
        for d in self.dirs:
            if (d / "cgroup.kill").exists():
                with contextlib.suppress(OSError):
                    (d / "cgroup.kill").write_text("1")
            for _ in range(500):
                try:
                    pids = [int(p) for p in (d / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                if not pids:
                    break
                for p in pids:
                    with contextlib.suppress(OSError):
                        os.kill(p, signal.SIGKILL)
                time.sleep(0.002)
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _memory_bytes(pids: list[int]) -> int:
    """Memory the processes use together: proportional set size (a page shared by N forks counts 1/N to
    each), else resident size where smaps_rollup cannot be read."""
    page, total = os.sysconf("SC_PAGE_SIZE"), 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024
            continue
        except (OSError, ValueError, IndexError, StopIteration):
            pass
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{p}/statm") as f:
            total += int(f.read().split()[1]) * page
    return total


def _exercise_processes(root: int) -> list[int]:
    """The processes of the exercise running now: everything below the job's runner (which stays)."""
    below = _bootstrap.descendants(root)
    runners = []
    for p in [root, *below]:
        with contextlib.suppress(OSError), open(f"/proc/{p}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
            if len(argv) > 4 and argv[1:3] == [b"-I", b"-B"] and argv[3].endswith(b"_runner.py") and argv[4] == b"job":
                runners.append(p)  # the runner itself, not the unshare or bwrap that started it
    return sorted({q for r in runners for q in _bootstrap.descendants(r)})


def _watch_memory(proc: subprocess.Popen, cap: int, out: Outcome, stop: threading.Event) -> None:
    """Per-job accounting where no cgroup is available: add up the memory of the job's processes and, past
    the cap, stop the exercise running now (its processes), as a cgroup's limit would; the job goes on."""
    while not stop.wait(0.1):
        pids = _bootstrap.descendants(proc.pid)
        if _memory_bytes(pids) > cap:
            out.memory_exceeded = True
            for p in _exercise_processes(proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)


# ---- the view and the launch ------------------------------------------------------------------------------------


def _python_roots() -> list[str]:
    """Where this interpreter and the packages it may import live (resolved)."""
    roots = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    return sorted(r for r in roots if not any(r != o and r.startswith(o + "/") for o in roots))


BIN = "{python_bin}"  # in a command call's argv and env: the interpreter's bin folder as the sandbox shows it


def _with_bin(calls: list[dict[str, Any]], bin_dir: str) -> list[dict[str, Any]]:
    """Command calls name programs beside the interpreter (docker-compose) by BIN; fill in where they are."""
    def fill(v: Any) -> Any:
        return v.replace(BIN, bin_dir) if isinstance(v, str) else v
    out = []
    for call in calls:
        if "argv" in call:
            call = {**call, "argv": [fill(a) for a in call["argv"]],
                    "env": {k: fill(v) for k, v in call.get("env", {}).items()}}
        out.append(call)
    return out


def _python_view() -> dict[str, str]:
    """Each interpreter root -> where the sandbox shows it: at its own path, unless that path lies under a
    folder every exercise gets a fresh tmpfs over (/tmp, /dev/shm, ...), where it would vanish: a course cloned
    into /tmp grades with a venv at /tmp/<clone>/.venv. Those appear under /.python<N> instead."""
    out = {}
    for i, r in enumerate(_python_roots()):
        hidden = any(r == d or r.startswith(d + "/") for d in _bootstrap.SHARED_WRITABLE)
        out[r] = f"/.python{i}" if hidden else r
    return out


def _python_inside() -> str:
    """This interpreter's path as the sandbox sees it (the venv's own bin/python, so it finds its packages)."""
    exe = os.path.abspath(sys.executable)
    home = os.path.dirname(os.path.dirname(exe))  # the venv or installation this bin/python belongs to
    inside = _python_view().get(os.path.realpath(home))
    return exe if inside is None else inside + exe[len(home):]


def _view(job_dir: Path, uid: int) -> dict[str, Any]:
    """The allow-list: everything a submission's root holds (besides /proc, /dev, its private tmpfs)."""
    ro = [("/usr", "/usr")]
    symlinks = []
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            symlinks.append((top, os.readlink(top)))
        elif os.path.isdir(top):
            ro.append((top, top))
    ro += [(p, inside) for p, inside in _python_view().items() if not p.startswith("/usr/")]
    ro += [(str(job_dir / "files"), "/.stage"), (str(HERE / "_runner.py"), "/.runner/_runner.py"),
           (str(HERE / "_bootstrap.py"), "/.runner/_bootstrap.py")]
    if (job_dir / "svc").is_dir():
        ro.append((str(job_dir / "svc"), "/.svc"))
    etc = {"passwd": f"root:x:0:0:root:/:/bin/false\nlearner:x:{uid}:{uid}:learner:/submission:/bin/false\n",
           "group": f"root:x:0:\nlearner:x:{uid}:\n", "hosts": "127.0.0.1 localhost\n::1 localhost\n"}
    etc_files = [p for p in ("/etc/ld.so.cache", "/etc/localtime") if os.path.isfile(p)]
    return {"ro": ro, "symlinks": symlinks, "etc": etc, "etc_files": etc_files}


def _bwrap_argv(view: dict[str, Any], job_dir: Path) -> list[str]:
    """The same allow-listed view, built by bubblewrap; the runner keeps capabilities inside its user
    namespace only to give each exercise its own mounts, and drops them in every exercise's process."""
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--uid", "0", "--gid", "0", "--cap-add", "ALL",
            "--die-with-parent", "--as-pid-1", "--new-session", "--hostname", "sandbox"]
    for link, target in view["symlinks"]:
        argv += ["--symlink", target, link]
    for src, dst in view["ro"]:
        argv += ["--ro-bind", src, dst]
    etc = job_dir / "etc"
    etc.mkdir()
    for name, text in view["etc"].items():
        (etc / name).write_text(text)
        argv += ["--ro-bind", str(etc / name), f"/etc/{name}"]
    for p in view["etc_files"]:
        argv += ["--ro-bind", p, p]
    argv += ["--dev", "/dev", "--proc", "/proc", "--dir", "/tmp", "--dir", "/var/tmp", "--dir", "/submission",
             "--tmpfs", "/dev/shm", "--remount-ro", "/", "--chdir", "/"]
    return argv


def _grant_traverse(paths: list[str]) -> None:
    """Weak mode as root: the interpreter may live under a closed folder (/root/.pyenv). Give the sandbox group
    (and only it) search permission on each closed folder above it, through a POSIX ACL entry."""
    for p in paths:
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            anc = "/" + "/".join(parts[:i])
            st = os.stat(anc)
            if st.st_mode & 0o001:
                continue
            try:
                raw = os.getxattr(anc, "system.posix_acl_access")
            except OSError:
                raw = b""
            entries = [struct.unpack_from("<HHI", raw, 4 + 8 * k) for k in range((len(raw) - 4) // 8)] if raw else []
            if any(tag == 0x08 and ident == SANDBOX_GID for tag, _, ident in entries):
                continue
            mode = st.st_mode
            if not entries:
                entries = [(0x01, (mode >> 6) & 7, 0xFFFFFFFF), (0x04, (mode >> 3) & 7, 0xFFFFFFFF),
                           (0x20, mode & 7, 0xFFFFFFFF)]
            entries = [e for e in entries if e[0] != 0x10] + [(0x08, 1, SANDBOX_GID)]
            mask = 0
            for tag, perm, _ in entries:
                if tag in (0x04, 0x08, 0x02):
                    mask |= perm
            entries.append((0x10, mask, 0xFFFFFFFF))
            entries.sort(key=lambda e: (e[0], e[2]))
            blob = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
            try:
                os.setxattr(anc, "system.posix_acl_access", blob)
            except OSError as exc:
                raise ServiceError(f"the weak sandbox cannot reach the interpreter under {anc} ({exc.strerror})",
                                   hint="install Python outside /root (e.g. /usr/local), or make its folder "
                                        "searchable (chmod o+x)") from exc


def _drain(stream: Any, keep: int, sink: list[bytes]) -> None:
    total = 0
    while chunk := stream.read(65536):
        if total < keep:
            sink.append(chunk[: keep - total])
        total += len(chunk)
    if total > keep:
        sink.append(f"\n[{total - keep} more bytes of output dropped]".encode())


def _read_reports(fd: int, out: Outcome, cap: int = 8 * 1024 * 1024) -> None:
    seen = 0
    with os.fdopen(fd, "rb") as f:
        for raw in f:
            seen += len(raw)
            if seen > cap:
                break
            try:
                rec = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if not isinstance(rec, dict):
                continue
            if rec.get("done") is True:
                out.finished = True
            elif isinstance(rec.get("part"), str) and "status" in rec:
                out.parts[rec["part"]] = rec  # later wins: the runner writes it after the child is gone
            elif isinstance(rec.get("id"), str) and rec["id"] not in out.reports:
                out.reports[rec["id"]] = rec  # first report per call wins


class _Bridge:
    """Grader side of a bridge: accepts on a Unix socket, connects to one live service on 127.0.0.1."""

    def __init__(self, sock_path: Path, url: str) -> None:
        host_port = url.split("://", 1)[-1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"live services must be on 127.0.0.1, not {host}")
        self.target, self.port = ("127.0.0.1", int(port)), int(port)
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(str(sock_path))
        os.chmod(sock_path, 0o777)
        self.srv.listen(32)
        self.srv.settimeout(0.5)
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from nimlab.grader._runner import _pump

        while not self.closed:
            try:
                conn, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            try:
                up = socket.create_connection(self.target, timeout=5)
                up.settimeout(None)
            except OSError:
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, up), daemon=True).start()
            threading.Thread(target=_pump, args=(up, conn), daemon=True).start()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.srv.close()


def run_job(job: Job) -> Outcome:
    started = time.monotonic()
    mode = sandbox_mode()
    root = os.geteuid() == 0
    token = secrets.token_hex(12)
    job_dir = grade_root() / token
    job_dir.mkdir(mode=0o711 if mode == "weak" else 0o700)  # weak: each exercise's uid passes to its own folder
    bridges: list[_Bridge] = []
    out = Outcome()
    n_uids = len(job.parts) if mode == "weak" else 1
    uids = _pool.take(n_uids) if root else [os.getuid()] * n_uids
    lim = job.limits
    # the runner joins the job's cgroup itself, before it pivots (bwrap hides /sys first: accounting there)
    cgroup = _Cgroup.create(token, lim.job_memory_mb, lim.job_pids) if root and mode != "bwrap" else None
    stop_watch = threading.Event()
    try:
        (job_dir / "files").mkdir()
        python = sys.executable if mode == "weak" else _python_inside()  # the path inside the view
        env_path = f"{Path(python).parent}:/usr/bin:/bin"
        parts = []
        for i, part in enumerate(job.parts):
            shutil.copytree(part.files, job_dir / "files" / part.name, symlinks=True)
            uid = uids[i] if mode == "weak" else uids[0]
            if mode == "weak":
                cwd = str(job_dir / f"work-{i}")
                tmp = job_dir / f"tmp-{i}"
                tmp.mkdir(mode=0o700)
                if root:
                    os.chown(tmp, uid, uid)
            else:
                cwd, tmp = "/submission", Path("/tmp")
            env = {"PATH": env_path, "HOME": cwd, "TMPDIR": str(tmp), "LANG": "C.UTF-8",
                   "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
            ex = {"name": part.name, "mode": mode, "uid": uid, "cwd": cwd, "entry": f"{cwd}/{part.entry}",
                  "files": str(job_dir / "files" / part.name), "work": cwd, "env": env,
                  "groups": [SANDBOX_GID] if mode == "weak" else [],
                  "memory": part.memory_mb << 20, "cpu": int(part.timeout_s) + 1, "fsize": lim.fsize_mb << 20,
                  "nproc": lim.nproc, "nofile": lim.nofile}
            parts.append({"name": part.name, "calls": _with_bin(part.calls, str(Path(python).parent)),
                          "timeout_s": part.timeout_s,
                          "call_timeout_s": part.call_timeout_s, "exercise": ex})
        spec = []
        if job.services and mode != "weak":
            (job_dir / "svc").mkdir()
            for i, url in enumerate(job.services):
                b = _Bridge(job_dir / "svc" / f"svc{i}.sock", url)
                bridges.append(b)
                spec.append({"port": b.port, "socket": f"/.svc/svc{i}.sock"})
        if mode == "weak" and root:
            _grant_traverse(_python_roots())
        view = _view(job_dir, uids[0]) if mode != "weak" else None
        stage = job_dir / "stage"
        stage.mkdir(mode=0o700)
        runner = "/.runner/_runner.py" if mode != "weak" else str(HERE / "_runner.py")
        job_doc = {"mode": mode, "parts": parts, "bridges": spec, "python": python, "runner": runner}
        r, w = os.pipe()
        cfg: dict[str, Any] = {"fd": w, "cgroups": cgroup.procs_files if cgroup else [], "stage": str(stage),
                               "view": view if mode in ("namespaces", "userns") else None}
        # bubblewrap starts the runner inside the view; unshare starts it here, and it pivots into the view itself
        argv = [python if mode == "bwrap" else sys.executable, "-I", "-B",
                "/.runner/_runner.py" if mode == "bwrap" else str(HERE / "_runner.py"), "job", json.dumps(cfg)]
        if mode == "namespaces":
            argv = ["unshare", *NS_FLAGS, *argv]
        elif mode == "userns":
            argv = ["unshare", "--user", "--map-root-user", *NS_FLAGS, *argv]
        elif mode == "bwrap":
            assert view is not None
            argv = [*_bwrap_argv(view, job_dir), *argv]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(w,), start_new_session=True, cwd="/", env={"PATH": "/usr/bin:/bin"})
        os.close(w)
        sink: list[bytes] = []
        readers = [threading.Thread(target=_read_reports, args=(r, out), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stdout, 65536, sink), daemon=True)]
        if cgroup is None:
            readers.append(threading.Thread(target=_watch_memory, args=(proc, lim.job_memory_mb << 20, out,
                                                                        stop_watch), daemon=True))
        for t in readers:
            t.start()
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.write(json.dumps(job_doc).encode())
            proc.stdin.close()
        del job_doc
        try:
            out.returncode = proc.wait(timeout=sum(p.timeout_s for p in job.parts) + 10)
        except subprocess.TimeoutExpired:
            out.timed_out = True
        stop_watch.set()
        left = _bootstrap.descendants(proc.pid) if mode == "weak" and not root else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for p in left:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        out.returncode = proc.wait()
        for t in readers[:2]:
            t.join(timeout=5)
        if cgroup is not None and cgroup.oom_killed():
            out.memory_exceeded = True
        out.output = b"".join(sink).decode(errors="replace")
    finally:
        stop_watch.set()
        for b in bridges:
            b.close()
        if cgroup is not None:
            cgroup.remove()
        if root:
            _pool.give(uids, files=mode == "weak")
        shutil.rmtree(job_dir, ignore_errors=True)
        out.seconds = round(time.monotonic() - started, 3)
    return out
