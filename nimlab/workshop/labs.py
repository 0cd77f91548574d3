"""Run the real lab notebooks inside a learner's container, unchanged, with nbclient: the learner's image,
environment variables (the room's NIMLAB_*_URL), network and limits — what a learner gets when they press
"Run all". Used by `nimlab workshop check --labs` and the workshop test.

The notebooks run from the pristine copy the image carries (/opt/nimlab/seed/labs), copied to a scratch
folder inside the container, so a learner's own edits neither break the check nor get overwritten. One
`docker exec` per room check, as the learner's user; only a JSON summary comes back.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from nimlab.errors import ServiceError

# runs inside the learner's container (its Python has nbclient: workshop/requirements-singleuser.txt)
RUNNER = r"""
import json, shutil, sys, tempfile, time, traceback
from pathlib import Path
import nbformat
from nbclient import NotebookClient

work = Path(tempfile.mkdtemp(prefix="nimlab-labs-")) / "labs"
shutil.copytree("/opt/nimlab/seed/labs", work)
timeout = float(sys.argv[1])
for stem in sys.argv[2:]:
    nb = nbformat.read(work / f"{stem}.ipynb", as_version=4)
    began, error = time.monotonic(), ""
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    except Exception as exc:
        error = f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[-1][:300]
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    errors = [f"{o.ename}: {o.evalue}"[:300] for o in outputs if o.output_type == "error"]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    print(json.dumps({"lab": stem, "seconds": round(time.monotonic() - began, 1), "error": error or "; ".join(errors),
                      "stdout": text[-20000:], "images": images}), flush=True)
shutil.rmtree(work.parent, ignore_errors=True)
"""


@dataclass(frozen=True)
class LabRun:
    """One notebook's run: `error` is empty when every cell ran; `stdout` is what its cells printed."""

    lab: str
    seconds: float
    error: str
    stdout: str
    images: int

    @property
    def ok(self) -> bool:
        return not self.error


def stems(labs: list[str]) -> list[str]:
    """'1', '01' or '01-two-stacks' -> the notebook's stem, from the labs the image carries (this checkout's)."""
    from nimlab.workshop.config import repo_root

    known = sorted(p.stem for p in (repo_root() / "labs").glob("*.ipynb"))
    out = []
    for lab in labs:
        match = [s for s in known if s == lab or s.split("-", 1)[0] == lab.zfill(2)]
        if not match:
            raise ServiceError(f"no lab {lab!r} (labs: {', '.join(s.split('-', 1)[0] for s in known)})",
                               hint="name labs by number, e.g. --labs 1,2,4")
        out.append(match[0])
    return out


def run_in_container(container: str, labs: list[str], timeout: float = 600.0) -> list[LabRun]:
    """Execute `labs` (stems) one after another in `container` as the learner; every cell within `timeout`."""
    argv = ["docker", "exec", "-u", "nimlab", "-w", "/home/nimlab/work", container,
            "python", "-c", RUNNER, str(timeout), *labs]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * len(labs) + 120)
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(f"the labs did not finish in {container}", hint=f"docker logs {container}") from exc
    runs = [LabRun(**json.loads(line)) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(runs) != len(labs):
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ServiceError(f"running the labs in {container} failed: {last}", hint=f"docker logs {container}")
    return runs
