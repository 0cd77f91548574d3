# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: asks for 8 GiB at import.
_hog = bytearray(8 << 30)
