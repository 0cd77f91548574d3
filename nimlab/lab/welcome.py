"""The screen `nimlab lab up` ends with: every URL, then what to open first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nimlab.lab.progress import ServiceReady
from nimlab.lab.services import ServiceSpec, course_root


def first_lab(root: Path) -> str:
    """labs/ relative path of the first notebook (the course's lab 1)."""
    notebooks = sorted((root / "labs").glob("[0-9]*.ipynb"))
    return f"labs/{notebooks[0].name}" if notebooks else "labs"


def screen(specs: Sequence[ServiceSpec], outcomes: Sequence[ServiceReady], elapsed_s: float) -> str:
    by_name = {s.name: s for s in specs}
    reused = sum(o.reused for o in outcomes)
    head = f"The course is up ({elapsed_s:.0f} s"
    head += f"; {reused} of {len(outcomes)} services were already running)" if reused else ")"
    lines = [head + ":"]
    for o in outcomes:
        spec = by_name[o.name]
        lines.append(f"  {spec.name:14} {spec.link}   ({spec.what})")
    steps = []
    if "docs" in by_name:
        steps.append(f"the site's Start here page   {by_name['docs'].url}/start-here/")
    if "jupyter" in by_name:
        jl = by_name["jupyter"]
        token = jl.env.get("JUPYTER_TOKEN", "")
        steps.append(f"lab 1 in JupyterLab          {jl.url}/lab/tree/{first_lab(course_root())}?token={token}")
    if steps:
        lines += ["", "Open first:"] + [f"  {i}. {step}" for i, step in enumerate(steps, 1)]
    lines += ["", "status: nimlab lab status   |   logs: nimlab lab logs SERVICE   |   stop all: nimlab lab down"]
    return "\n".join(lines)
