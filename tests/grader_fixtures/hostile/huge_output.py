# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: floods stdout and stderr (print and raw fd writes), then answers correctly.
import os as _os
import sys as _sys

_ref_classify = classify


def classify(scenario):
    for _ in range(2000):
        print("x" * 10000)
        _sys.stderr.write("y" * 10000)
    _os.write(1, b"z" * (20 << 20))
    return _ref_classify(scenario)
