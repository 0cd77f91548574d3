"""Take a submission (folder or zip) into a sanitized private copy: regular files only, bounded in size.

Symlinks, device files, absolute or `..` names and zip bombs never make it through, so the grader (root)
cannot be tricked into reading or writing anything outside the submission while copying it.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from nimlab.errors import ConfigError

MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES = 500, 2 << 20, 20 << 20
MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, MAX_CENTRAL_DIR = 25 << 20, 2000, 1 << 20  # checked before the zip is parsed
SKIP_DIRS = {"__pycache__", ".git", ".ipynb_checkpoints", "__MACOSX"}


class SubmissionError(ConfigError):
    """The submission cannot be read (bad zip, too big): graded as zero with this message."""


def _safe_name(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts or any(part in SKIP_DIRS for part in p.parts):
        return None
    return p


def _zip_counts(src: Path) -> tuple[int, int]:
    """(entries, central directory bytes) from the end-of-central-directory record (zip64 too), read without
    parsing the directory, so a zip of 300k entries is refused before it costs any memory."""
    size = src.stat().st_size
    with open(src, "rb") as f:
        f.seek(max(0, size - 65557))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise SubmissionError(f"{src.name} is not a readable zip file", hint="upload a .zip of your folder")
        entries, cd_size = struct.unpack_from("<H", tail, at + 10)[0], struct.unpack_from("<I", tail, at + 12)[0]
        loc = tail.rfind(b"PK\x06\x07", 0, at)
        if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and loc >= 0:
            off = struct.unpack_from("<Q", tail, loc + 8)[0]
            if off < size:
                f.seek(off)
                rec = f.read(56)
                if rec[:4] == b"PK\x06\x06" and len(rec) == 56:
                    entries, cd_size = struct.unpack_from("<QQ", rec, 32)
    return entries, cd_size


def _from_zip(src: Path, dest: Path) -> None:
    size = src.stat().st_size
    if size > MAX_ZIP_BYTES:
        raise SubmissionError(f"{src.name} is {size >> 20} MB (limit {MAX_ZIP_BYTES >> 20} MB)",
                              hint="zip only your exercise files (no data, no virtual environment)")
    entries, cd_size = _zip_counts(src)
    if entries > MAX_ZIP_ENTRIES or cd_size > MAX_CENTRAL_DIR:
        raise SubmissionError(f"the zip lists {entries} entries (limit {MAX_ZIP_ENTRIES})",
                              hint="zip only your exercise files (no data, no virtual environment)")
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
            kind = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0  # 3: Unix
            name = _safe_name(info.filename)
            if name is None or kind not in (0, stat.S_IFREG):
                continue  # symlinks, devices, escapes: skipped; no type bits (zipfile.writestr, Windows): a file
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
