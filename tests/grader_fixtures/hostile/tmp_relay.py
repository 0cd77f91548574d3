# ruff: noqa  (a fragment appended to exercise 1's reference solution; deliberately hostile)

# HOSTILE (issue 14.2), exercise 1's half: write every scenario it is given to /tmp, /var/tmp and /dev/shm, where
# exercise 2 of the same job (tmp_relay_02.py) reads them back into its own public feedback.
import json as _json

_ref_classify = classify


def classify(scenario):
    for _d in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(f"{_d}/nimlab-relay.jsonl", "a") as f:
                f.write(_json.dumps(scenario) + "\n")
        except OSError:
            pass
    return _ref_classify(scenario)
