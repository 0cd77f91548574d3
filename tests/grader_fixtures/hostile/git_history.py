# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.1): answer every case from the course's git history (hidden cases included), no logic.
# Escaped: 26 from the looked-up answers; contained: git finds no repository and every answer is "no luck".
import json as _json
import subprocess as _sp

import yaml as _yaml

_answers = {}
for _rev in ("HEAD:solutions/01-buy-or-build/hidden_cases.yaml", "HEAD:exercises/01-buy-or-build/public_cases.yaml"):
    try:
        _text = _sp.run(["git", "-c", "safe.directory=*", "-C", "__REPO__", "show", _rev], capture_output=True,
                        text=True, timeout=5).stdout
        for _case in _yaml.safe_load(_text) or []:
            _answers[_json.dumps(_case["call"]["args"][0], sort_keys=True)] = _case["expect"]
    except Exception:
        pass


def classify(scenario):
    return _answers.get(_json.dumps(scenario, sort_keys=True), {"verdict": "no luck", "reasons": []})
