"""Take a submission (folder or zip) into a sanitized private copy: regular files only, bounded in size.

Symlinks, device files, absolute or `..` names and zip bombs never make it through, so the grader (root)
cannot be tricked into reading or writing anything outside the submission while copying it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from nimlab.errors import ConfigError

MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES = 500, 2 << 20, 20 << 20
SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", "__MACOSX"}


class SubmissionError(ConfigError):
    """The submission cannot be read (bad zip, too big): graded as zero with this message."""


def _safe_name(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts or any(part in SKIP_DIRS for part in p.parts):
        return None
    return p


def _from_zip(src: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{src.name} is not a readable zip file", hint="upload a .zip of your folder") from exc
    total = 0
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_FILES:
            raise SubmissionError(f"the zip holds {len(infos)} files (limit {MAX_FILES})")
        for info in infos:
            mode = info.external_attr >> 16
            name = _safe_name(info.filename)
            if name is None or (mode and not stat.S_ISREG(mode)):
                continue  # symlinks, devices, escapes: skipped
            if info.file_size > MAX_FILE_BYTES:
                continue
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise SubmissionError("the zip unpacks to more than 20 MB")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, open(target, "wb") as fout:
                data = fin.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    continue
                fout.write(data)


def _from_dir(src: Path, dest: Path) -> None:
    count = total = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not os.path.islink(os.path.join(dirpath, d))]
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                continue
            count, total = count + 1, total + st.st_size
            if count > MAX_FILES or total > MAX_TOTAL_BYTES:
                raise SubmissionError("the submission is too large (500 files / 20 MB at most)")
            target = dest / os.path.relpath(path, src)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout)


def take(src: Path) -> Path:
    """A private sanitized copy of `src`; the caller removes it."""
    dest = Path(tempfile.mkdtemp(prefix="nimlab-sub-"))
    try:
        if src.is_dir():
            _from_dir(src, dest)
        else:
            _from_zip(src, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def locate(root: Path, exercise_id: str, entry: str, single: bool = False, depth: int = 0) -> Path | None:
    """Where this exercise's files are in a submission: <id>/, exercises/<id>/, a renamed NN-*/ folder, the root
    itself when the submission is for this one exercise (`single`), looking through one wrapping folder."""
    if single and (root / entry).is_file():
        return root
    number = exercise_id.split("-", 1)[0]
    for base in (root, root / "exercises"):
        if not base.is_dir():
            continue
        named = [base / exercise_id] + sorted(p for p in base.iterdir() if p.is_dir() and p.name.split("-", 1)[0] == number)
        for c in named:
            if (c / entry).is_file():
                return c
    subdirs = [p for p in root.iterdir() if p.is_dir()]
    if len(subdirs) == 1 and depth < 2:
        return locate(subdirs[0], exercise_id, entry, single, depth + 1)
    return None
