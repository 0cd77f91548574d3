# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: hangs on one scenario only (the public licence one); every other answer is right.
_ref_classify = classify


def classify(scenario):
    if scenario["licence_cost_per_year"] >= 900000:
        while True:
            pass
    return _ref_classify(scenario)
