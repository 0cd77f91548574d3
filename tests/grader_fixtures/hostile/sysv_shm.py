# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.3): a SysV shared-memory segment outlives the job. If one is already there (left by an
# earlier job that had this uid), show its contents as the answer; then leave every scenario in it for the next.
# Contained (private IPC namespace, leftovers removed): it never finds one, answers right: 26.
import ctypes as _ct
import json as _json

_libc = _ct.CDLL(None, use_errno=True)
_libc.shmat.restype = _ct.c_void_p
_KEY, _SIZE = 0x4E494D4C, 1 << 16
_found = ""
_id = _libc.shmget(_KEY, _SIZE, 0)
if _id >= 0:
    _addr = _libc.shmat(_id, None, 0)
    if _addr not in (None, _ct.c_void_p(-1).value):
        _found = _ct.string_at(_addr, 4096).split(b"\0", 1)[0].decode(errors="replace")
else:
    _id = _libc.shmget(_KEY, _SIZE, 0o1600)  # IPC_CREAT | 0600
_addr = _libc.shmat(_id, None, 0) if _id >= 0 else None
_log = []
_ref_classify = classify


def classify(scenario):
    _log.append(scenario)
    if _addr not in (None, _ct.c_void_p(-1).value):
        data = _json.dumps(_log).encode()[:_SIZE - 1] + b"\0"
        _ct.memmove(_addr, data, len(data))
    if _found:
        return {"verdict": "left by the last job: " + _found[:2000], "reasons": []}
    return _ref_classify(scenario)
