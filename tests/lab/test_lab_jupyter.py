"""The JupyterLab service's helpers (nimlab/lab/jupyter.py): a token that survives restarts, a workspace
that shows only labs/ and exercises/, and a clear refusal without a token."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from nimlab.lab.jupyter import jupyter_token, server_args, workspace

ROOT = Path(__file__).resolve().parents[2]


def test_token_is_created_once_and_private(tmp_path):
    token = jupyter_token(tmp_path)
    assert len(token) >= 32 and jupyter_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / "jupyter.token").stat().st_mode) == 0o600


def test_workspace_links_only_labs_and_exercises_and_follows_a_moved_checkout(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        (root / "labs").mkdir(parents=True)
        (root / "exercises").mkdir()
        (root / "solutions").mkdir()
    ws = workspace(old, tmp_path / "state")
    assert sorted(p.name for p in ws.iterdir()) == ["exercises", "labs"]
    assert (ws / "labs").resolve() == old / "labs"
    workspace(new, tmp_path / "state")
    assert (ws / "labs").resolve() == new / "labs" and (ws / "exercises").resolve() == new / "exercises"


def test_server_binds_loopback_without_a_browser_or_news(tmp_path):
    args = server_args(tmp_path / "ws", tmp_path, 18888)
    assert "--ServerApp.ip=127.0.0.1" in args and "--ServerApp.port=18888" in args
    assert "--no-browser" in args and "--LabApp.news_url=None" in args
    assert "--ServerApp.port_retries=0" in args, "a taken port must fail, not move silently"


def test_refuses_to_start_without_a_token(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TOKEN"}
    out = subprocess.run([sys.executable, "-m", "nimlab.lab.jupyter", "--root", str(ROOT), "--state", str(tmp_path),
                          "--port", "1"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "JUPYTER_TOKEN is not set" in out.stderr and "next:" in out.stderr
