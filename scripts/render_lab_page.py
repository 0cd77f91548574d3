"""Render a lab notebook into a page of the course site, with the outputs of a real execution.

    .venv/bin/python scripts/render_lab_page.py labs/05-buy-vs-build-money.ipynb            # execute, then render
    .venv/bin/python scripts/render_lab_page.py --no-execute labs/NN-name.ipynb             # render saved outputs

The page goes to docs/labs/<notebook name>.md and its images to docs/labs/img/. It starts with where and when
the outputs were produced and the sha256 of the notebook it was rendered from, so tests/test_site.py can tell
when the notebook has changed since. A plain converter instead of an MkDocs plugin keeps the site free of
plugins (see docs/about-site.md: the Zensical note).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import platform
import re
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "labs"
SHA_LINE = re.compile(r"<!-- notebook: (?P<path>\S+) sha256: (?P<sha>[0-9a-f]{64}) -->")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fence(text: str, lang: str = "text") -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}\n"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def render(nb_path: Path, execute: bool = True, timeout: int = 600) -> Path:
    nb_path = nb_path.resolve()
    digest = sha256(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    how = "saved outputs of an earlier run"
    if execute:
        from nbclient import NotebookClient

        started = time.time()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        how = (f"executed end to end with nbclient on {time.strftime('%Y-%m-%d', time.gmtime())} "
               f"({platform.machine()}, Python {platform.python_version()}, {time.time() - started:.0f} s)")
    if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        raise SystemExit(f"{nb_path.name}: no outputs to show; run it (drop --no-execute)")

    stem = nb_path.stem
    img_dir = PAGES / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    for old in img_dir.glob(f"{stem}-*.png"):
        old.unlink()
    rel = nb_path.relative_to(ROOT).as_posix()
    out: list[str] = [f"<!-- notebook: {rel} sha256: {digest} -->\n"]
    header_done = False
    n_img = 0
    for cell in nb.cells:
        src = cell.source.rstrip()
        if cell.cell_type == "markdown":
            out.append(src + "\n")
            if not header_done and src.startswith("# "):
                out.append(f'!!! info "Rendered from a real run"\n    This page is `{rel}` with the outputs it '
                           f"produced: {how}. Run it yourself to get your own numbers.\n")
                header_done = True
            continue
        if cell.cell_type != "code":
            continue
        out.append(_fence(src, "python"))
        for o in cell.get("outputs", []):
            kind = o.get("output_type")
            if kind == "stream":
                out.append(_fence(_strip_ansi(o.get("text", ""))))
            elif kind in ("execute_result", "display_data"):
                data = o.get("data", {})
                if "image/png" in data:
                    n_img += 1
                    name = f"{stem}-{n_img}.png"
                    (img_dir / name).write_bytes(base64.b64decode(data["image/png"]))
                    out.append(f"![Output {n_img} of {stem}](img/{name})\n")
                elif "text/markdown" in data:
                    out.append(data["text/markdown"] + "\n")
                elif "text/plain" in data:
                    out.append(_fence(_strip_ansi(data["text/plain"])))
            elif kind == "error":
                out.append(_fence(_strip_ansi("\n".join(o.get("traceback", [])) or o.get("evalue", ""))))
    page = PAGES / f"{stem}.md"
    page.write_text("\n".join(out))
    return page


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--no-execute", action="store_true", help="render the outputs saved in the notebook")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = ap.parse_args(argv)
    for nb in args.notebooks:
        print(render(nb, execute=not args.no_execute, timeout=args.timeout).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
