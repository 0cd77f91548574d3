"""Command 1, timed: a fresh clone to "course ready" (every service healthy), then a second start.

What a learner does, for real: `git clone` this repository into a temporary folder (no .venv), run
`bash scripts/course.sh` (set-up with every install, then `nimlab lab up`), check every service's health
URL, `nimlab lab down`, and run `bash scripts/course.sh` again. Each line command 1 prints is time-stamped
as it arrives, so the phases are the ones a learner watches: the set-up steps, the model weights, each
service ready. A third run while everything is up shows that a repeat reuses the running services.

The clone gets its own model cache (NIM_CACHE_PATH: the first start dequantizes the GGUF, as a learner's
would), its own state folder and free ports (NIMLAB_PORT_*), so it never touches services already running on
this machine. pip uses this machine's sources: its download cache (`--pip-cache machine`, the second learner
on the same machine) or an empty one (`--pip-cache empty`); either way the torch CPU wheel and many others
come from this machine's wheel folder and package mirror (see README).

    .venv/bin/python bench/bench_course_start.py [--pip-cache machine|empty]   # writes artifacts/bench/course_start[-empty-cache].json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from nimlab.lab.launch import free_port
from nimlab.lab.local import port_in_use
from nimlab.ports import PORT_MAP, port_variable

ROOT = Path(__file__).resolve().parents[1]
SETUP_STEP = re.compile(r"^\[setup\] (\d/4|dev:|done|environment up to date)")
LAB_LINE = re.compile(r"^\[lab\] +[\d.]+s (\S+) +(ready|weights cache ready|already running)")
HEALTH = {"docs": "/", "jupyter": "/api", "nim": "/v1/health/ready", "triton-http": "/v2/health/ready",
          "triton-openai": "/v1/health/ready"}
TARGETS_S = {"fresh": 300.0, "second": 30.0}


def timed_run(argv: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float) -> dict:
    """Run `argv`, stamping every output line with seconds since start; returns the phase marks and total."""
    marks: dict[str, float] = {}
    began = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, bufsize=1)
        assert proc.stdout is not None
        for line in proc.stdout:
            t = time.monotonic() - began
            out.write(f"{t:7.1f} {line}")
            if m := SETUP_STEP.match(line):
                marks.setdefault(f"setup {m.group(1)}", t)
            elif m := LAB_LINE.match(line):
                key = "model weights" if m.group(2) == "weights cache ready" else f"{m.group(1)} ready"
                marks.setdefault(key, t)
            elif line.startswith("The course is up"):
                marks["course up"] = t
            if t > timeout:
                proc.kill()
                break
        code = proc.wait()
    total = time.monotonic() - began
    if code != 0:
        raise SystemExit(f"error: {' '.join(argv)} exited {code} after {total:.0f} s\n  next: read {log}")
    return {"total_s": round(total, 1), "marks_s": {k: round(v, 1) for k, v in marks.items()}}


def all_healthy(ports: dict[str, int]) -> bool:
    for name, path in HEALTH.items():
        try:
            if httpx.get(f"http://127.0.0.1:{ports[name]}{path}", timeout=5).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    return True


def phases(run: dict) -> dict[str, float]:
    """Marks turned into durations: set-up, then `lab up` (model weights and each service since it began)."""
    m, out = run["marks_s"], {}
    setup_end = m.get("setup done", m.get("setup environment up to date", 0.0))
    out["setup (installs)"] = setup_end
    for key in ("model weights", "docs ready", "jupyter ready", "nim ready", "triton ready", "triton-openai ready"):
        if key in m:
            out[f"{key} (after setup)"] = round(m[key] - setup_end, 1)
    out["total"] = run["total_s"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pip-cache", choices=["machine", "empty"], default="machine",
                    help="machine: this machine's pip download cache; empty: a new empty one")
    ap.add_argument("--out", default="artifacts/bench", help="folder for course_start*.json")
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone (and its .venv)")
    args = ap.parse_args()
    if not shutil.which("git"):
        print("error: git is not installed\n  next: apt-get install -y git", file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="nimlab-course-start-"))
    clone = work / "nimlab"
    ports = {p.name: free_port() for p in PORT_MAP}
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NIM_SERVER_PORT", "NIMLAB_VENV",
                                                             "NIMLAB_COURSE_ROOT", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    env.update({port_variable(name): str(p) for name, p in ports.items()})
    env.update({"NIMLAB_STATE_DIR": str(work / "state"), "NIM_CACHE_PATH": str(work / "nim-cache")})
    if args.pip_cache == "empty":
        env["PIP_CACHE_DIR"] = str(work / "pip-cache")
    result: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]},
                    "pip_cache": args.pip_cache, "ports": ports, "targets_s": TARGETS_S,
                    "command": "bash scripts/course.sh (in a fresh clone)"}
    try:
        t = time.monotonic()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
        result["clone_s"] = round(time.monotonic() - t, 1)
        assert not (clone / ".venv").exists()

        course = ["bash", "scripts/course.sh"]
        fresh = timed_run(course, clone, env, work / "fresh.log", timeout=1200)
        fresh["all_healthy"] = all_healthy(ports)
        result["fresh"] = {**fresh, "phases_s": phases(fresh)}

        again = timed_run(course, clone, env, work / "again.log", timeout=120)  # while up: reuse, restart nothing
        result["repeat_while_up"] = {**again, "reused_all": (work / "again.log").read_text().count("reused") == 5}

        t = time.monotonic()
        subprocess.run([str(clone / ".venv/bin/nimlab"), "lab", "down"], cwd=clone, env=env, check=True,
                       capture_output=True, timeout=120)
        result["down_s"] = round(time.monotonic() - t, 1)
        result["ports_free_after_down"] = not any(port_in_use(p) for p in ports.values())

        second = timed_run(course, clone, env, work / "second.log", timeout=600)
        second["all_healthy"] = all_healthy(ports)
        result["second"] = {**second, "phases_s": phases(second)}
    finally:
        if (clone / ".venv/bin/nimlab").exists():
            subprocess.run([str(clone / ".venv/bin/nimlab"), "lab", "down"], cwd=clone, env=env,
                           capture_output=True, timeout=120)
        result["logs"] = str(work)
        if not args.keep:
            for log in work.glob("*.log"):  # keep the time-stamped logs beside the JSON
                Path(args.out).mkdir(parents=True, exist_ok=True)
                shutil.copy(log, Path(args.out) / f"course_start-{args.pip_cache}-{log.name}")
            shutil.rmtree(work, ignore_errors=True)
            result["logs"] = str(Path(args.out))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "course_start.json" if args.pip_cache == "machine" else "course_start-empty-cache.json"
    (out / name).write_text(json.dumps(result, indent=2))

    print(f"fresh clone -> course ready (pip cache: {args.pip_cache}; load average at start "
          f"{result['machine']['load_avg_at_start']:.1f} on {result['machine']['cpus']} CPUs)")
    for label, key in (("fresh clone", "fresh"), ("second start (after lab down)", "second")):
        run = result[key]
        verdict = "met" if run["total_s"] <= TARGETS_S[key] else f"missed by {run['total_s'] - TARGETS_S[key]:.0f} s"
        print(f"\n{label}: {run['total_s']:.1f} s (target {TARGETS_S[key]:.0f} s: {verdict}); "
              f"every service healthy: {run['all_healthy']}")
        for phase, secs in run["phases_s"].items():
            print(f"  {phase:34} {secs:7.1f} s")
    print(f"\nrepeat while up: {result['repeat_while_up']['total_s']:.1f} s, reused all 5: "
          f"{result['repeat_while_up']['reused_all']}; lab down {result['down_s']:.1f} s, every port free: "
          f"{result['ports_free_after_down']}; clone {result['clone_s']:.1f} s")
    print(f"written: {out / name}")
    return 0 if result["fresh"]["all_healthy"] and result["second"]["all_healthy"] else 1


if __name__ == "__main__":
    sys.exit(main())
