"""nimlab.process, the one start -> poll -> stop sequence, on real child processes (a stdlib HTTP server and a
shell that spawns a grandchild): ready when the health URL answers, the whole group gone after the block,
a child that dies during start-up reported with its log tail."""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx
import pytest

from nimlab.errors import ServiceError
from nimlab.process import free_port, launched, port_in_use


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_launched_waits_for_health_then_stops_the_whole_group(tmp_path, stop_signal):
    port = free_port()
    pidfile = tmp_path / "grandchild.pid"
    # the server's shell also leaves a grandchild behind, which only a group kill reaches
    script = (f"sleep 300 & echo $! > {pidfile}; "
              f"exec {sys.executable} -m http.server {port} --bind 127.0.0.1 --directory {tmp_path}")
    with launched(["sh", "-c", script], f"http://127.0.0.1:{port}", "/", timeout=30,
                  stop_signal=stop_signal, grace=5) as running:
        assert httpx.get(running.url + "/", timeout=5).status_code == 200
        grandchild = int(pidfile.read_text())
    assert running.proc.poll() is not None and not port_in_use(port)
    deadline = time.monotonic() + 5
    while not _gone(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived the block"
        time.sleep(0.05)


def test_a_child_that_dies_during_start_up_is_reported_with_its_log():
    with pytest.raises(ServiceError) as err, launched(["sh", "-c", "echo cannot bind; exit 3"],
                                                      f"http://127.0.0.1:{free_port()}", "/", timeout=30):
        pass
    assert "exited with status 3" in str(err.value) and "cannot bind" in str(err.value)


def test_a_child_that_never_answers_is_stopped_after_the_timeout():
    with pytest.raises(ServiceError, match="not ready after 1 s") as err, \
            launched(["sleep", "60"], f"http://127.0.0.1:{free_port()}", "/", timeout=1):
        pass
    assert "read " in err.value.render()
