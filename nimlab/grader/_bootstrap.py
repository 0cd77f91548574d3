"""Privileged sandbox steps, standard library only (the runner imports this before any learner code runs).

* `build_root`: an allow-listed view (a new tmpfs root holding read-only bind mounts of only what a submission
  needs), entered with pivot_root, so nothing else of the host (checkout, .git, homes, /run) exists inside;
* `enter_exercise`: in a forked child, a private mount + IPC namespace with fresh size-capped tmpfs for /tmp,
  /var/tmp, /dev/shm and the exercise's own files, then limits and a privilege drop (another uid as root; all
  capabilities dropped in a user namespace) just before a fresh interpreter is exec'd;
* `scrub_uid`: every leftover of a sandbox uid (processes, SysV IPC, files in shared writable folders).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import shutil
import signal
import socket
import stat
import struct
import time
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
SYS_PIVOT_ROOT = 155  # x86-64
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue", "/run/user")
DEVICES = ("null", "zero", "full", "random", "urandom")
_libc = ctypes.CDLL(None, use_errno=True)


def _enc(s: str | None) -> bytes | None:
    return s.encode() if s is not None else None


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def umount(target: str) -> None:
    if _libc.umount2(_enc(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")


def _kept_flags(path: str) -> int:
    """The flags a read-only remount must keep (in a user namespace, nosuid/nodev/noexec/atime are locked)."""
    f = os.statvfs(path).f_flag
    out = MS_NOSUID
    for st_bit, ms_bit in ((os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC), (os.ST_NOATIME, MS_NOATIME),
                           (os.ST_NODIRATIME, MS_NODIRATIME), (os.ST_RELATIME, MS_RELATIME)):
        if f & st_bit:
            out |= ms_bit
    return out


def bind(src: str, dst: str, writable: bool = False) -> None:
    """Bind `src` at `dst` (created, file or folder), read-only unless `writable`."""
    if os.path.isdir(src):
        os.makedirs(dst, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        if not os.path.exists(dst):
            os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))
    mount(src, dst, None, MS_BIND | MS_REC)
    if not writable:
        mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY | _kept_flags(src))


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def join_cgroups(procs_files: list[str]) -> None:
    """Move this process (and so everything it starts) into the job's cgroups, while the host's are visible."""
    for path in procs_files:
        with open(path, "w") as f:
            f.write("0")


def build_root(view: dict[str, Any], stage: str) -> None:
    """Mount a fresh tmpfs at `stage`, put only the allow-listed paths in it (read-only), pivot into it and
    drop the old root: afterwards no path of the host exists in this mount namespace but those."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("none", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,nr_inodes=4096,mode=0755")
    for link, target in view["symlinks"]:
        os.symlink(target, stage + link)
    for src, dst in view["ro"]:
        bind(src, stage + dst)
    for src, dst in view.get("rw", []):
        bind(src, stage + dst, writable=True)
    os.makedirs(stage + "/dev", mode=0o755, exist_ok=True)
    for d in DEVICES:
        if os.path.exists(f"/dev/{d}"):
            bind(f"/dev/{d}", f"{stage}/dev/{d}", writable=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{stage}/dev/{name}")
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/submission", "/proc", "/etc"):
        os.makedirs(stage + d, mode=0o755, exist_ok=True)
    for name, text in view["etc"].items():
        with open(f"{stage}/etc/{name}", "w") as f:
            f.write(text)
    for src in view["etc_files"]:
        bind(src, stage + src)
    mount("proc", stage + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(stage)
    if _libc.syscall(SYS_PIVOT_ROOT, b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    umount(".")  # the old root, stacked under the new one
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _loopback_up()


def _copy_tree(src: str, dst: str, uid: int | None) -> None:
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst if rel == "." else os.path.join(dst, rel)
        os.makedirs(target, mode=0o755, exist_ok=True)
        if uid is not None:
            os.chown(target, uid, uid)
        for fn in filenames:
            s = os.path.join(dirpath, fn)
            if not stat.S_ISREG(os.lstat(s).st_mode):
                continue
            d = os.path.join(target, fn)
            shutil.copyfile(s, d)
            if uid is not None:
                os.chown(d, uid, uid)


def drop_capabilities() -> None:
    """In a user namespace (uid 0 inside, an ordinary user outside): lose every capability for good, so the
    submission cannot undo the mounts, and exec never gives them back."""
    pr_set_no_new_privs, pr_capbset_drop, pr_set_securebits, pr_cap_ambient = 38, 24, 28, 47
    _libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0)
    for cap in range(64):
        _libc.prctl(pr_capbset_drop, cap, 0, 0, 0)
    _libc.prctl(pr_cap_ambient, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    # SECBIT_NOROOT | NOROOT_LOCKED | NO_SETUID_FIXUP | NO_SETUID_FIXUP_LOCKED | KEEP_CAPS_LOCKED
    if _libc.prctl(pr_set_securebits, 0x2F, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECUREBITS) failed")
    header = struct.pack("II", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two zeroed {effective, permitted, inheritable}
    if _libc.capset(ctypes.c_char_p(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    with open("/proc/self/status") as f:
        eff = next(line for line in f if line.startswith("CapEff:")).split()[1]
    if int(eff, 16) != 0:
        raise SystemExit("could not drop capabilities; refusing to run a submission")


def oom_score(adj: int) -> None:
    """Set this process's oom_score_adj (lowering it needs privilege: then it stays as it was)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(adj))
    except OSError:
        pass


def enter_exercise(ex: dict[str, Any]) -> None:
    """In the forked child of one exercise, before exec: its own mounts and IPC, its files, limits, no privileges."""
    mode, uid = ex["mode"], ex["uid"]
    oom_score(500)  # the first to go when the job runs out of memory
    if mode in ("namespaces", "userns", "bwrap"):
        unshare(CLONE_NEWNS | CLONE_NEWIPC)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        for path, size in (("/tmp", "16m"), ("/var/tmp", "4m"), ("/dev/shm", "16m")):
            mount("none", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},nr_inodes=2048,mode=1777")
        mount("none", "/submission", "tmpfs", MS_NOSUID | MS_NODEV, "size=32m,nr_inodes=2048,mode=0755")
        _copy_tree(f"/.stage/{ex['name']}", "/submission", uid if mode == "namespaces" else None)
        umount("/.stage")  # the other exercises' files
        if mode == "bwrap":  # bubblewrap's /dev is a writable tmpfs of its own: no channel between exercises
            mount(None, "/dev", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    else:
        _copy_tree(ex["files"], ex["work"], uid)
        os.chmod(ex["work"], 0o700)
        if os.getuid() == 0:
            os.chown(ex["work"], uid, uid)
    for res, val in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, ex["fsize"]),
                     (resource.RLIMIT_NOFILE, ex["nofile"]), (resource.RLIMIT_AS, ex["memory"])):
        resource.setrlimit(res, (val, val))
    resource.setrlimit(resource.RLIMIT_CPU, (ex["cpu"], ex["cpu"] + 1))
    if mode in ("userns", "bwrap"):
        # counted per user namespace (Linux >= 5.14): this job's processes only, not the learner's others
        resource.setrlimit(resource.RLIMIT_NPROC, (ex["nproc"], ex["nproc"]))
        drop_capabilities()
    elif os.geteuid() == 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (ex["nproc"], ex["nproc"]))
        os.setgroups(ex.get("groups", []))
        os.setgid(uid)
        os.setuid(uid)
        if os.getuid() == 0 or os.geteuid() == 0 or os.getgid() == 0:
            raise SystemExit("refusing to run a submission as root")
    libc_prctl_no_new_privs = 38
    _libc.prctl(libc_prctl_no_new_privs, 1, 0, 0, 0)  # no setuid program can lift it back up
    os.umask(0o077)
    os.chdir(ex["cwd"])


def descendants(root: int) -> list[int]:
    """Every process below `root` (children, grandchildren, ...), read from /proc."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return sorted(found)


# ---- leftovers of a uid ----------------------------------------------------------------------------------------


def _pids_of(uids: set[int]) -> dict[int, int]:
    """pid -> uid for every process whose real, effective or saved uid is one of `uids`."""
    found = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as f:
                line = next(x for x in f if x.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        ids = {int(x) for x in line.split()[1:4]}
        if ids & uids:
            found[int(d)] = min(ids & uids)
    return found


def kill_uids(uids: set[int], rounds: int = 100) -> None:
    """Kill every process of these uids, from a child that takes each uid in turn (kill(-1) then reaches
    exactly that uid's processes, new ones included), until /proc shows none: a fork bomb cannot outrun it."""
    for _ in range(rounds):
        left = set(_pids_of(uids).values())
        if not left:
            return
        for uid in left:
            pid = os.fork()
            if pid == 0:
                try:
                    os.setgroups([])
                    os.setgid(uid)
                    os.setuid(uid)
                    for _ in range(3):
                        with _suppress():
                            os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
        time.sleep(0.002)


def _remove_ipc(uids: set[int]) -> None:
    """Remove SysV shared memory, semaphores and message queues that belong to (or were made by) `uids`."""
    ipc_rmid = 0
    for kind, fn in (("shm", _libc.shmctl), ("sem", _libc.semctl), ("msg", _libc.msgctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                header = f.readline().split()
                rows = [dict(zip(header, line.split(), strict=False)) for line in f]
        except OSError:
            continue
        for row in rows:
            if int(row.get("uid", -1)) in uids or int(row.get("cuid", -1)) in uids:
                ident = int(row["shmid" if kind == "shm" else "semid" if kind == "sem" else "msqid"])
                if kind == "sem":
                    fn(ident, 0, ipc_rmid)
                else:
                    fn(ident, ipc_rmid, None)


def _remove_files(uids: set[int], roots: tuple[str, ...] = SHARED_WRITABLE) -> None:
    """Remove what `uids` left in the host's shared writable folders. Only folders they could write into are
    searched (world-writable ones, or their own, which go as a whole), so this stays cheap on a busy /tmp."""
    seen: set[str] = set()
    for root in roots:
        real = os.path.realpath(root)
        if real in seen or not os.path.isdir(real):
            continue
        seen.add(real)
        todo = [real]
        while todo:
            d = todo.pop()
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_uid in uids:
                    if stat.S_ISDIR(st.st_mode):
                        shutil.rmtree(e.path, ignore_errors=True)
                    else:
                        with _suppress():
                            os.unlink(e.path)
                elif stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002:
                    todo.append(e.path)


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]


def scrub_uids(uids: set[int], files: bool = True) -> None:
    """Every leftover of these sandbox uids: processes, SysV IPC objects, files in shared writable folders."""
    if os.geteuid() != 0 or not uids:
        return
    kill_uids(uids)
    _remove_ipc(uids)
    if files:
        _remove_files(uids)
