# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.3): fill the host's writable system folders (/run/lock, /var/lock) that no private mount
# covered, leaving files behind (a full disk made honest submissions score 0). Bounded here to 4 x 8 MiB so the
# test cannot fill the test machine's disk. Answers right: 26 either way; the test checks nothing is left.
import os as _os

for _d in ("/run/lock", "/var/lock", "/dev/mqueue"):
    for _i in range(4):
        try:
            with open(f"{_d}/nimlab-hostile-fill-{_i}", "wb") as _f:
                _f.write(b"\0" * (8 << 20))
        except OSError:
            break
