"""Live services an exercise's manifest asks for (`resources:`), started once per grading run and shared.

`course_nim_pair`: the course NIM twice, on its auto-selected optimized profile and forced onto the generic
one. Before any grading, the grader checks through /v1/metadata that each really runs the profile the tests
expect, so a machine that cannot run the optimized profile fails loudly instead of grading unfairly.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import httpx

from nimlab.errors import ServiceError

GENERIC = "nimlab_generic-fp32-tp1-pp1"


def _profile(url: str) -> tuple[str, dict[str, str]]:
    meta = httpx.get(url.rstrip("/") + "/v1/metadata", timeout=10).json()
    return meta["selectedModelProfileName"], meta.get("profileTags", {})


def describe_pair(optimized: str, generic: str) -> dict[str, str]:
    opt_name, opt_tags = _profile(optimized)
    gen_name, gen_tags = _profile(generic)
    if not any(t in opt_tags for t in ("gpu", "cpu")):
        raise ServiceError(f"the 'optimized' course NIM at {optimized} runs the generic profile {opt_name}",
                           hint="grade exercise 4 on a machine with >= 2 usable CPUs (or pass a URL that is optimized)")
    if any(t in gen_tags for t in ("gpu", "cpu")):
        raise ServiceError(f"the 'generic' course NIM at {generic} runs the optimized profile {gen_name}",
                           hint=f"start it with NIM_MODEL_PROFILE={GENERIC}")
    return {"course_nim_pair.optimized": optimized.rstrip("/"), "course_nim_pair.generic": generic.rstrip("/"),
            "course_nim_pair.optimized_profile": opt_name, "course_nim_pair.generic_profile": gen_name}


@contextlib.contextmanager
def triton_live() -> Iterator[dict[str, str]]:
    """The real tritonserver (nvidia-pytriton's binary, via nimlab.triton.launcher) in explicit model-control
    mode on an empty repository the grader owns: checks load one learner model at a time into it."""
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from nimlab.triton import launcher

    with tempfile.TemporaryDirectory(prefix="nimlab-grade-triton-") as tmp:
        repo, state = Path(tmp) / "repo", Path(tmp) / "state"
        repo.mkdir()
        state.mkdir()
        ports = launcher.TritonPorts.free()
        argv = launcher.server_argv(repo, launcher.backend_dir(state), ports) + ["--model-control-mode=explicit"]
        with open(state / "tritonserver.log", "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **launcher.server_env()}, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{ports.http}"
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (state / "tritonserver.log").read_text(errors="replace")[-1500:]
                    raise ServiceError(f"tritonserver did not start for grading:\n{tail}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                        break
                time.sleep(0.2)
            yield {"triton_live.http": url, "triton_live.repo": str(repo)}
        finally:
            launcher.stop_server(proc)


@contextlib.contextmanager
def provide(names: set[str], given: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """Yield the resource map for `names`; URLs in `given` ("course_nim_pair.optimized": URL, ...) are reused."""
    given = dict(given or {})
    with contextlib.ExitStack() as outer:
        if "triton_live" in names:
            given.update(outer.enter_context(triton_live()))
        if "course_nim_pair" not in names:
            yield given
            return
        with _nim_pair(given) as res:
            yield res


@contextlib.contextmanager
def _nim_pair(given: dict[str, str]) -> Iterator[dict[str, str]]:
    """Start the missing NIMs side by side. Each is started and stopped by a thread that lives as long as the
    NIM: the launcher asks the kernel to stop a server when the *thread* that launched it ends
    (PR_SET_PDEATHSIG), so a short-lived starter thread would take its NIM down with it."""
    urls = {k: given.get(f"course_nim_pair.{k}") for k in ("optimized", "generic")}
    env = {"optimized": None, "generic": {"NIM_MODEL_PROFILE": GENERIC}}
    stop = threading.Event()
    errors: list[BaseException] = []
    started: dict[str, threading.Event] = {}

    def hold(kind: str) -> None:
        from nimlab.lab.launch import course_nim

        try:
            with course_nim(env=env[kind]) as running:
                urls[kind] = running.url
                started[kind].set()
                stop.wait()
        except BaseException as exc:  # noqa: BLE001 - reported by the waiting thread
            errors.append(exc)
        finally:
            started[kind].set()

    threads = []
    for kind in (k for k, v in urls.items() if not v):
        started[kind] = threading.Event()
        threads.append(threading.Thread(target=hold, args=(kind,), name=f"nim-{kind}"))
    for t in threads:
        t.start()
    try:
        for ev in started.values():
            ev.wait()
        if errors:
            raise errors[0]
        yield {**given, **describe_pair(str(urls["optimized"]), str(urls["generic"]))}
    finally:
        stop.set()
        for t in threads:
            t.join()
