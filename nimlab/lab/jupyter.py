"""JupyterLab as a lab service: a workspace that shows only labs/ and exercises/, a token that survives restarts.

The workspace is a folder in the state directory holding two links into the checkout, so learners see the
notebooks and their exercises but not solutions/ or the package source; kernels run in the linked folders,
so relative paths in the notebooks work as in the checkout.

    python -m nimlab.lab.jupyter --root CHECKOUT --state STATE_DIR --port 8888   (token from JUPYTER_TOKEN)
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

SHOWN = ("labs", "exercises")


def jupyter_token(state: Path) -> str:
    """The token in STATE/jupyter.token (created once, owner-only), so the URL printed yesterday still works."""
    path = state / "jupyter.token"
    if not path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(24))
    return path.read_text().strip()


def jupyter_argv(root: Path, state: Path, port: int) -> tuple[str, ...]:
    return (sys.executable, "-m", "nimlab.lab.jupyter", "--root", str(root), "--state", str(state),
            "--port", str(port))


def workspace(root: Path, state: Path) -> Path:
    """STATE/workspace with links to the checkout's labs/ and exercises/ (re-pointed if the checkout moved)."""
    ws = state / "workspace"
    ws.mkdir(parents=True, exist_ok=True)
    for name in SHOWN:
        link, target = ws / name, root / name
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target, target_is_directory=True)
    return ws


def server_args(ws: Path, state: Path, port: int) -> list[str]:
    """JupyterLab bound to loopback, no browser, no port hopping, no calls home for news or updates."""
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={ws}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None",
            f"--LabApp.workspaces_dir={state / 'jupyter-workspaces'}"]
    if os.geteuid() == 0:  # containers and course machines often run as root; Jupyter refuses that unasked
        args.append("--allow-root")
    return args


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nimlab.lab.jupyter", description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, required=True, help="the course checkout (has labs/ and exercises/)")
    p.add_argument("--state", type=Path, required=True, help="the lab's state folder")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    if not os.environ.get("JUPYTER_TOKEN"):
        print("error: JUPYTER_TOKEN is not set\n  next: start JupyterLab with `nimlab lab up jupyter`", file=sys.stderr)
        return 1
    missing = [n for n in SHOWN if not (args.root / n).is_dir()]
    if missing:
        print(f"error: {args.root} has no {', '.join(missing)}/\n  next: pass the course checkout as --root",
              file=sys.stderr)
        return 1
    ws = workspace(args.root.resolve(), args.state.resolve())
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(args.state / "jupyter-runtime")}
    print(f"Starting JupyterLab on http://127.0.0.1:{args.port}/lab (shows {', '.join(SHOWN)})", flush=True)
    os.execve(sys.executable, server_args(ws, args.state.resolve(), args.port), env)  # same pid: `down` stops it


if __name__ == "__main__":
    sys.exit(main())
