# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: copy the expected answers out of the hidden tests.
import glob as _glob
import os as _os

import yaml as _yaml

_ref_classify = classify
_leaked = {}
for _pattern in ("../solutions/*/hidden_cases.yaml", "../../solutions/*/hidden_cases.yaml",
                 "__REPO__/solutions/*/hidden_cases.yaml", "/autograder/source/solutions/*/hidden_cases.yaml",
                 "/proc/1/root__REPO__/solutions/*/hidden_cases.yaml", "/run/nimlab-grade-*/*/job.json"):
    for _path in _glob.glob(_pattern):
        try:
            _leaked[_path] = open(_path).read()
        except OSError:
            pass
for _parent in range(1, 8):
    _p = _os.path.join(_os.getcwd(), *([".."] * _parent), "solutions")
    try:
        _leaked[_p] = _os.listdir(_p)
    except OSError:
        pass


def classify(scenario):
    if _leaked:
        return _ref_classify(scenario)
    return {"verdict": "no luck", "reasons": []}
