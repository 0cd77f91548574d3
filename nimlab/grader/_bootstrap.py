"""Sandbox step 1, as root inside fresh net/mount/pid namespaces: hide, limit and drop privileges in place.

Called by _runner.py before it reads the job; standard library only, nothing the submission can touch.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import resource
import socket
import struct

MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None) -> None:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _closed_ancestor(path: str) -> str | None:
    """The topmost folder above `path` that others may not enter (e.g. /root, mode 0700), if any."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        anc = "/" + "/".join(parts[:i])
        if not os.stat(anc).st_mode & 0o001:
            return anc
    return None


def _reveal(libc: ctypes.CDLL, paths: list[str], stage: str) -> None:
    """Make `paths` (the Python install) reachable although a closed folder holds them: stage a bind mount,
    cover the closed folder with an empty tmpfs, recreate the path inside and move the mount there."""
    todo = [(p, a) for p in paths if (a := _closed_ancestor(p))]
    for i, (p, _) in enumerate(todo):
        os.mkdir(f"{stage}/{i}", 0o700)
        _mount(libc, p, f"{stage}/{i}", None, MS_BIND | MS_REC, None)
    for a in sorted({a for _, a in todo}):
        _mount(libc, "none", a, "tmpfs", 0, "size=64k,mode=0755")
    for i, (p, _) in enumerate(todo):
        os.makedirs(p, mode=0o755, exist_ok=True)
        _mount(libc, f"{stage}/{i}", p, None, MS_MOVE, None)


def _cover_keeping(libc: ctypes.CDLL, path: str, keep: list[str], stage: str) -> None:
    """Give `path` (e.g. /tmp) a private empty tmpfs, but carry over the `keep` paths that live inside it
    (a checkout or venv under /tmp/...), with whatever is already mounted over them (hidden solutions)."""
    inside = sorted({p for p in keep if p.startswith(path.rstrip("/") + "/") and os.path.exists(p)})
    inside = [p for p in inside if not any(p != q and p.startswith(q + "/") for q in inside)]
    for i, p in enumerate(inside):
        os.makedirs(f"{stage}/{i}", mode=0o700)
        _mount(libc, p, f"{stage}/{i}", None, MS_BIND | MS_REC, None)
    _mount(libc, "none", path, "tmpfs", 0, "size=16m,mode=1777")
    for i, p in enumerate(inside):
        os.makedirs(p, mode=0o755, exist_ok=True)
        _mount(libc, f"{stage}/{i}", p, None, MS_MOVE, None)


def confine(cfg: dict) -> None:
    """Hide, limit and drop privileges in place; afterwards this process is the unprivileged runner."""
    if cfg["namespaces"]:
        libc = ctypes.CDLL(None, use_errno=True)
        _mount(libc, None, "/", None, MS_REC | MS_PRIVATE, None)
        _reveal(libc, cfg["reveal"], cfg["stage"])
        for path in cfg["hide"]:
            if os.path.isdir(path):
                _mount(libc, "none", path, "tmpfs", 0, "size=4k,mode=000")
            elif os.path.exists(path):
                _mount(libc, "/dev/null", path, None, MS_BIND, None)
        keep = [*cfg["reveal"], *cfg.get("keep", [])]
        for n, path in enumerate(cfg["scratch"]):
            if os.path.isdir(path):
                _cover_keeping(libc, path, keep, f"{cfg['stage']}/scratch{n}")
        _loopback_up()
    limits = cfg["limits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["nproc"], limits["nproc"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["nofile"], limits["nofile"]))
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    if os.getuid() == 0 or os.geteuid() == 0 or os.getgid() == 0:
        raise SystemExit("refusing to run a submission as root")
    os.umask(0o077)
    os.environ.clear()
    os.environ.update(cfg["env"])
    os.chdir(cfg["cwd"])
