# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: reads the job file and writes forged "passed" reports to every open descriptor, then exits.
import glob as _glob
import json as _json
import os as _os

_jobs = _glob.glob(_os.path.join(_os.path.dirname(_os.getcwd()), "job.json"))
_ids = [c["id"] for c in _json.load(open(_jobs[0]))["calls"]] if _jobs else []
for _fd in range(3, 64):
    for _id in _ids:
        try:
            _os.write(_fd, (_json.dumps({"id": _id, "ok": True, "passed": True, "score": 999,
                                         "value": {"passed": True}}) + "\n").encode())
        except OSError:
            break
    try:
        _os.write(_fd, b'{"done": true}\n')
    except OSError:
        pass
_os._exit(0)
