# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.1): look around the host: the checkout, its .git, the home folders, a gradebook left in the
# checkout, other checkouts. Answers right only when it sees none of them, so escaped scores 0, contained 26.
import os as _os

_seen = []
for _path in ("__REPO__/.git", "__REPO__/README.md", "__REPO__/solutions", "__REPO__/nimlab", "/root/.bashrc",
              "/root/.profile", "/home", "/etc/shadow", "/run/lock", "/var/lock", "/srv", "/opt", "/work/shared"):
    if _os.path.exists(_path):
        _seen.append(_path)

_ref_classify = classify


def classify(scenario):
    if _seen:
        return {"verdict": "saw " + " ".join(_seen), "reasons": []}
    return _ref_classify(scenario)
