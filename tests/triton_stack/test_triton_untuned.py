"""The untuned hand-built stack (one instance, no dynamic batching, V1), and a clean start/stop."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import tritonclient.grpc as grpcclient

from nimlab.triton import kserve
from nimlab.triton.launcher import triton_server

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> set[int]:
    """pid and every process below it, from /proc (the Python backend stubs are tritonserver's children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_untuned_never_batches_and_stops_clean() -> None:
    with triton_server("untuned") as triton:
        procs = _descendants(triton.proc.pid)
        assert len(procs) >= 1 + 4  # tritonserver + one stub per Python model instance
        before = kserve.batch_stats(triton.metrics_url)

        def one(n: int) -> None:
            kserve.stream(triton.grpc_url, "llm_bls", kserve.inputs(
                grpcclient, text_input=f"Story {n}:", max_tokens=4, temperature=0.0, ignore_eos=True, stream=True))

        threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        llm = kserve.batch_stats(triton.metrics_url)["llm"] - before["llm"]
        assert llm.inference_count == 4 and llm.average_batch == 1.0, llm
        assert "batching_strategy=V1" in triton.log()
        ports = triton.ports
    assert triton.proc.returncode is not None
    assert not [p for p in procs if _alive(p)], "processes left behind"
    assert all(_port_free(p) for p in (ports.http, ports.grpc, ports.metrics))
