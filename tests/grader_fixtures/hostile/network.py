# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: phone home (the outside world, and the grader's host loopback) before answering.
import socket as _socket

_ref_classify = classify


def classify(scenario):
    for host, port in (("1.1.1.1", 80), ("8.8.8.8", 53), ("127.0.0.1", 22)):
        try:
            _socket.create_connection((host, port), timeout=1).close()
            return _ref_classify(scenario)  # reachable: would score
        except OSError:
            pass
    return {"verdict": "offline", "reasons": []}
