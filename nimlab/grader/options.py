"""Options of `nimlab grade` and `nimlab grade-export` (light: imported whenever the nimlab parser is built)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_grade_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="a submission (folder or .zip), or a folder of submissions")
    p.add_argument("--course", help="course root holding exercises/ and solutions/ (default: found upward)")
    p.add_argument("-e", "--exercise", action="append", help="grade only this exercise (id or number; repeatable)")
    p.add_argument("--single-submission", action="store_true", help="treat the one path as one submission")
    p.add_argument("-j", "--workers", type=int, default=(os.cpu_count() or 2) + 1,
                   help="submissions graded at once (default: CPUs + 1; much of a sandbox's life is waiting)")
    p.add_argument("--live", action="append", default=[], metavar="RESOURCE",
                   help="also run the live checks that need RESOURCE (e.g. triton_live: exercise 6 on the real Triton)")
    p.add_argument("--nim-optimized", help="reuse a running optimized course NIM (URL) for live exercises")
    p.add_argument("--nim-generic", help="reuse a running generic course NIM (URL) for live exercises")
    p.add_argument("--gradescope", type=Path, help="write Gradescope results.json (one submission)")
    p.add_argument("--json-dir", type=Path, help="write one Gradescope results.json per submission here")
    p.add_argument("--junit", type=Path, help="write JUnit XML for all submissions")
    p.add_argument("--csv", type=Path, help="write the CSV gradebook")
    p.add_argument("--reveal-hidden", action="store_true", help="instructor view: show hidden tests' feedback")
    p.add_argument("-q", "--quiet", action="store_true", help="one line per exercise, no per-test lines")


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["bundle", "gradescope"], help="learner bundle or Gradescope autograder zip")
    p.add_argument("-o", "--output", type=Path, required=True, help="zip file to write")
    p.add_argument("--course", help="course root (default: found upward)")
    p.add_argument("-e", "--exercise", action="append",
                   help="gradescope: only this exercise (id or number; repeatable), e.g. one assignment per exercise")
