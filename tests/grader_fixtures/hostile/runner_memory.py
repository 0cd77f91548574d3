# ruff: noqa  (a fragment appended to exercise 1's reference solution; deliberately hostile)

# HOSTILE (issue 14.2): look through this process's memory (live objects, the frames of a forked runner, raw
# bytes) for another exercise's calls (exercise 2's hidden cost scenarios) and put them into a public answer.
# Contained (a fresh interpreter that only ever held its own calls): nothing found, answers right: 26.
import gc as _gc
import json as _json
import re as _re
import sys as _sys

_ref_classify = classify


def _loot():
    found = [_json.dumps(o)[:300] for o in _gc.get_objects()
             if isinstance(o, dict) and "licence_per_gpu_year" in o]
    f = _sys._getframe()
    while f is not None:  # the frames of whatever started this process, if it was forked
        for v in list(f.f_locals.values()):
            text = repr(v)
            if "licence_per_gpu_year" in text:
                found.append(text[text.index("licence_per_gpu_year") - 200:][:400])
        f = f.f_back
    try:
        with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
            for line in maps:
                addr, perms = line.split()[:2]
                if "r" not in perms or "[v" in line:
                    continue
                lo, hi = (int(x, 16) for x in addr.split("-"))
                if hi - lo > 256 << 20:
                    continue
                try:
                    mem.seek(lo)
                    chunk = mem.read(hi - lo)
                except (OSError, ValueError, OverflowError):
                    continue
                for m in _re.finditer(rb'licence_per_gpu_year": \d', chunk):  # not this file's own text
                    found.append(chunk[max(0, m.start() - 200): m.end() + 50].decode(errors="replace"))
    except OSError:
        pass
    return found[:5]


def classify(scenario):
    loot = _loot()
    if loot:
        return {"verdict": "found: " + repr(loot), "reasons": []}
    return _ref_classify(scenario)
