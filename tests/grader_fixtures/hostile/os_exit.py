# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: os._exit(0) at import, skipping every handler.
import os as _os

_os._exit(0)
