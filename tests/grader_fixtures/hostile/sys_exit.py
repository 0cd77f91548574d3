# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: an early "successful" exit at import, hoping a clean exit status counts as a pass.
import sys as _sys

_sys.exit(0)
