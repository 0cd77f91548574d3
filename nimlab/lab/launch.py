"""A course NIM as a child process for the span of a `with` block (tests, benchmarks, the grader, labs 4, 6, 7).

The start -> poll -> stop sequence itself is nimlab.process; its names stay importable from here for the
notebooks and scripts that import them from this module.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from nimlab.process import Running, die_with_parent, free_port, launched, stop_group

__all__ = ["Running", "course_nim", "die_with_parent", "free_port", "launched", "stop_group"]


@contextlib.contextmanager
def course_nim(port: int | None = None, env: dict[str, str] | None = None, cpus: str | None = None,
               timeout: float = 180.0) -> Iterator[Running]:
    """A course NIM on 127.0.0.1:`port`; `cpus="0"` runs it under `taskset -c 0` (one usable CPU)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "nimlab", "serve", "--host", "127.0.0.1", "--port", str(port)]
    pre = ["taskset", "-c", cpus] if cpus is not None else []
    with launched(argv, f"http://127.0.0.1:{port}", "/v1/health/ready", env=env, timeout=timeout,
                  preexec_argv=pre) as running:
        yield running
