# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.2): once a hidden scenario arrives, exit with a status that encodes it (4: the licence is
# 260000), so the exercise's visible note ("exit status 4") carries a hidden input. Public answers are right.
import os as _os

_ref_classify = classify


def classify(scenario):
    if scenario["licence_cost_per_year"] in (260000, 500000):
        _os._exit(4 if scenario["licence_cost_per_year"] == 260000 else 5)
    return _ref_classify(scenario)
