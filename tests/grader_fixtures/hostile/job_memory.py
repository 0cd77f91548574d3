# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.3): stay under the per-process memory limit but not the job's: 4 processes touch 300 MiB
# each (1.2 GiB together) and wait. Escaped: they all hold it and the answers are right (26); contained (the
# whole job is capped): a process is stopped while importing: 0.
import os as _os
import time as _time

_kids = []
for _i in range(4):
    _pid = _os.fork()
    if _pid == 0:
        try:
            _buf = b"\1" * (300 << 20)  # every page written
            _time.sleep(1)
        finally:
            _os._exit(0)
    _kids.append(_pid)
for _pid in _kids:
    if _os.waitpid(_pid, 0)[1] != 0:
        raise MemoryError("one of my processes was stopped: the job's memory is capped as a whole")
