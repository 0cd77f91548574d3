# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: crashes the interpreter at import.
import ctypes as _ctypes

_ctypes.string_at(0)
