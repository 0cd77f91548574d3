# ruff: noqa  (a fragment appended to exercise 1's reference solution; deliberately hostile)

# HOSTILE: write a deeply nested JSON line straight onto the answer channel (fd 4), hoping the process that
# reads it dies of recursion and takes the rest of the job (exercise 2's points) with it. Contained: the line
# answers no outstanding call and is skipped; both exercises score in full (26 + 36).
import os as _os

try:
    _os.write(4, b"[" * 200000 + b"\n")
except OSError:
    pass
