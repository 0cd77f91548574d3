"""Collect every learner's exercises from their work volume into the layout `nimlab grade` batch-grades
(one folder per learner, each a copy of exercises/), then grade the batch into a gradebook.

Read from the volumes, not the containers: a learner whose server is stopped (or crashed) is collected too,
and nothing runs inside a learner's container. Archives are unpacked with tarfile's `data` filter (no links,
devices or paths outside the target), before the grader's own intake checks them again.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from nimlab.errors import ServiceError
from nimlab.workshop.config import WorkshopConfig
from nimlab.workshop.room import volumes

SKIP = ("__pycache__", ".ipynb_checkpoints")
MAX_BYTES = 64 * 2**20  # a learner's exercises folder is kilobytes; a huge one is refused, not unpacked


@dataclass(frozen=True)
class Collected:
    learner: str
    files: int
    note: str = ""


def collect(cfg: WorkshopConfig, out: Path) -> list[Collected]:
    """Copy <volume>/exercises of each learner to out/<learner>/exercises (replacing an older copy)."""
    out.mkdir(parents=True, exist_ok=True)
    report = []
    for vol in volumes(cfg):
        learner = vol[len(cfg.volume_prefix):]
        dest = out / learner
        done = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "nimlab",
                               "-v", f"{vol}:/w:ro", "--entrypoint", "tar", cfg.image,
                               "-C", "/w", "-cf", "-", *[f"--exclude={s}" for s in SKIP], "exercises"],
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            report.append(Collected(learner, 0, "no exercises/ folder in the work volume"))
            continue
        if len(done.stdout) > MAX_BYTES:
            report.append(Collected(learner, 0, f"exercises/ is over {MAX_BYTES >> 20} MiB: not collected"))
            continue
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
            tar.extractall(dest, filter="data")
        report.append(Collected(learner, sum(1 for p in dest.rglob("*") if p.is_file())))
    return report


def grade(folder: Path, gradebook: Path, extra: list[str]) -> list[dict]:
    """`nimlab grade FOLDER/* --csv GRADEBOOK --json-dir ...`, then the gradebook's rows."""
    learners = sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if not learners:
        raise ServiceError(f"nothing collected in {folder}", hint="nimlab workshop collect first")
    gradebook.parent.mkdir(parents=True, exist_ok=True)
    # each learner's folder as its own path: one submission each, named after the learner, even for a room of one
    cmd = [sys.executable, "-m", "nimlab", "grade", *map(str, learners), "--csv", str(gradebook),
           "--json-dir", str(gradebook.parent / "results"), "--quiet", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ServiceError(f"nimlab grade failed: {last}", hint=" ".join(cmd))
    return list(csv.DictReader(gradebook.open()))
