# ruff: noqa  (a fragment appended to exercise 1's reference solution; deliberately hostile)

# HOSTILE: write a deeply nested JSON line straight onto the answer channel (fd 4), hoping the process that
# reads it dies of recursion and takes the rest of the job (exercise 2's points) with it. Contained: exercise 1
# loses its own answers only ("wrote over the grader's channel"), exercise 2 scores in full.
import os as _os

try:
    _os.write(4, b"[" * 200000 + b"\n")
except OSError:
    pass
