"""The course site as a lab service: build docs/ with mkdocs only when they changed, then serve the files.

A static server starts in well under a second and costs no CPU while idle, where `mkdocs serve` rebuilds in
the foreground and watches every file. The built site lives in the checkout (.nimlab/site/<fingerprint>),
so a second start reuses it and a fresh clone builds its own.

    python -m nimlab.lab.site --root CHECKOUT --port 8080
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nimlab.errors import NimlabError, ServiceError


def site_argv(root: Path, port: int) -> tuple[str, ...]:
    return (sys.executable, "-m", "nimlab.lab.site", "--root", str(root), "--port", str(port))


SNIPPET = re.compile(r'--8<--\s+"([^"]+)"')


def fingerprint(root: Path) -> str:
    """A digest of everything the build reads — mkdocs.yml, docs/ and the files pages include with
    `--8<--` (the exercise statements) — so any edit means a rebuild."""
    pages = sorted(p for p in (root / "docs").rglob("*") if p.is_file())
    included = {root / m for p in pages if p.suffix == ".md" for m in SNIPPET.findall(p.read_text(errors="replace"))}
    digest = hashlib.sha256()
    for path in [root / "mkdocs.yml", *pages, *sorted(f for f in included if f.is_file())]:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_built(root: Path, log=print) -> Path:
    """The built site for the current docs: reused when its fingerprint matches, else built anew (atomically)."""
    cache = root / ".nimlab" / "site"
    target = cache / fingerprint(root)
    if (target / "index.html").is_file():
        log(f"Site up to date ({target})")
        return target
    log("Building the site from docs/ (first start, or the docs changed)...")
    started = time.monotonic()
    tmp = cache / f".build-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(root / "mkdocs.yml"),
                           "-d", str(tmp)], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if proc.returncode != 0 or not (tmp / "index.html").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise ServiceError(f"mkdocs could not build the site:\n{(proc.stdout + proc.stderr)[-1500:]}",
                           hint="fix the page it names, or run `.venv/bin/mkdocs build --strict` to see every problem")
    try:
        tmp.rename(target)
    except OSError:  # another start built the same fingerprint first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
    # keep the two newest earlier builds (a site server started before the edit may still be serving one)
    earlier = sorted((d for d in cache.iterdir() if d != target and not d.name.startswith(".build-")),
                     key=lambda d: d.stat().st_mtime, reverse=True)
    for old in earlier[2:]:
        shutil.rmtree(old, ignore_errors=True)
    log(f"Built the site in {time.monotonic() - started:.1f} s")
    return target


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Logs only failed requests: the log stays readable for `nimlab lab logs docs`."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(getattr(code, "value", code)).startswith(("4", "5")):
            super().log_request(code, size)


def serve(folder: Path, port: int, host: str = "127.0.0.1") -> None:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer((host, port), handler) as server:
        print(f"Serving the site on http://{host}:{port}/ from {folder}", flush=True)
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nimlab.lab.site", description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True, help="the course checkout (has mkdocs.yml and docs/)")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    try:
        folder = ensure_built(args.root.resolve(), log=lambda m: print(m, flush=True))
        serve(folder, args.port)
    except NimlabError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot serve the site on port {args.port}: {exc}\n  next: free the port or set "
              "NIMLAB_PORT_DOCS", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
