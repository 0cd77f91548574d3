"""Start-up, in one direction: config -> manifest -> hardware -> selection -> engine -> API.

Anything that makes the service unusable (bad variable, unknown or unrunnable forced profile) stops it
here, before a port is opened, with exit status 1 and a one-line next step.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from nimlab import __version__
from nimlab.errors import NimlabError
from nimlab.nim import config as nim_config
from nimlab.nim import hardware, selection
from nimlab.nim.adapters import DEFAULT_MAX_RANK, AdapterManager, check_source
from nimlab.nim.manifest import load_manifest
from nimlab.nim.metrics import NimMetrics
from nimlab.nim.state import API_VERSION, WHAT_THIS_IS, NimState

if TYPE_CHECKING:
    from nimlab.engine import Engine

log = logging.getLogger("nimlab.nim")

LOG_FORMAT = "%(levelname)s %(asctime)s.%(msecs)03d %(filename)s:%(lineno)d] %(message)s"


def setup_logging(level: str) -> None:
    logging.basicConfig(level=logging.DEBUG if level == "TRACE" else getattr(logging, level),
                        format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stdout, force=True)
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def prepare(cfg: nim_config.NimConfig) -> NimState:
    """Everything up to (not including) loading the model. Raises NimlabError on a bad start."""
    manifest = load_manifest(cfg.manifest_path)
    if cfg.peft_source is not None:
        check_source(cfg.peft_source)
    facts = hardware.detect()
    chosen = selection.select(manifest, facts, forced=cfg.model_profile, lora=cfg.peft_source is not None)
    for line in selection.startup_lines(chosen):
        log.info(line)
    name = cfg.served_model_name or manifest.served_model_name
    p = chosen.profile
    metrics = NimMetrics(name, p.id, p.name, p.tags.get("llm_engine", ""))
    return NimState(config=cfg, manifest=manifest, hardware=facts, selection=chosen, served_model_name=name,
                    metrics=metrics)


def load_engine(state: NimState) -> None:
    """Load weights, start the engine with the profile's schedule, warm it, then flip ready."""
    from nimlab.engine import Engine, SamplingParams, load_model
    from nimlab.nim.serving import CourseEngineClient
    from nimlab.openai.serving import OpenAIServing

    profile_runtime = state.selection.profile.runtime
    assert profile_runtime is not None  # selection only returns runnable profiles
    runtime = profile_runtime.with_overrides(max_num_seqs=state.config.passthrough_max_num_seqs)
    if runtime != profile_runtime:
        log.info("NIM_PASSTHROUGH_ARGS overrides the profile: max_num_seqs %d -> %d",
                 profile_runtime.max_num_seqs, runtime.max_num_seqs)
    try:
        import torch

        torch.set_num_threads(runtime.engine_threads)
        t0 = time.monotonic()
        log.info("Preparing model workspace...")
        loaded = load_model(runtime.precision, cache_dir=state.config.cache_path)
        log.info("Model loaded from %s in %.1f s (%s)", loaded.source, time.monotonic() - t0, runtime.precision)
        engine = Engine(loaded, max_num_seqs=runtime.max_num_seqs, kv_capacity_tokens=runtime.kv_cache_tokens,
                        max_queue=state.config.max_queue, max_model_len=state.config.max_model_len,
                        preallocated_kv=runtime.preallocated_kv)
        engine.start()
        log.info("Engine schedule: %s (max_num_seqs=%d, KV pool %d tokens, %d engine thread(s))",
                 runtime.schedule, runtime.max_num_seqs, runtime.kv_cache_tokens, runtime.engine_threads)
        warm_ids = loaded.tokenizer("Hello", add_special_tokens=False)["input_ids"]
        for _ in engine.generate(warm_ids, SamplingParams(max_tokens=2, temperature=0)):
            pass
        adapters = _start_adapters(state, engine)
        state.engine_client = CourseEngineClient(engine, state.served_model_name, state.metrics, adapters)
        state.openai = OpenAIServing(state.engine_client)
        state.ready_event.set()
        log.info("Engine warm; service ready after %.1f s", time.time() - state.started)
    except NimlabError as exc:
        state.load_error = str(exc)
        log.error("%s", exc.render())
    except Exception as exc:  # any load failure becomes a visible not-ready state, never a silent hang
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("model load failed")


def _start_adapters(state: NimState, engine: Engine) -> AdapterManager | None:
    """With NIM_PEFT_SOURCE: load every good adapter before ready; watch the folder if asked to."""
    cfg = state.config
    if cfg.peft_source is None:
        return None
    tag = state.selection.profile.tags.get("feat_lora_max_rank", "")
    max_rank = cfg.max_lora_rank or (int(tag) if tag.isdigit() else DEFAULT_MAX_RANK)
    manager = AdapterManager(engine, cfg.peft_source, max_rank, state.served_model_name)
    manager.refresh()
    log.info("LoRA: %d adapter(s) loaded from %s (max rank %d%s)", len(manager.adapters), cfg.peft_source,
             max_rank, f", re-scanned every {cfg.peft_refresh_interval} s" if cfg.peft_refresh_interval else "")
    if cfg.peft_refresh_interval:
        manager.watch(cfg.peft_refresh_interval)
    return manager


def serve(host: str = "0.0.0.0", port: int | None = None) -> int:
    """Run the course NIM until SIGINT/SIGTERM. Returns the process exit status."""
    import uvicorn

    try:
        cfg = nim_config.from_env()
        setup_logging(cfg.log_level)
        log.info("nimlab course NIM %s (NIM LLM API %s): %s", __version__, API_VERSION, WHAT_THIS_IS)
        state = prepare(cfg)
    except NimlabError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    listen = port or cfg.port
    busy = _port_busy(host, listen)
    if busy:
        print(f"error: cannot listen on {host}:{listen} ({busy})\n  next: stop what uses the port "
              f"(`nimlab lab down`) or choose another with NIM_SERVER_PORT / --port", file=sys.stderr)
        return 1
    from nimlab.nim.app import build_app  # imports the engine (torch): only once start-up checks passed

    app = build_app(state)
    loader = threading.Thread(target=load_engine, args=(state,), name="nimlab-loader", daemon=True)

    @app.on_event("startup")
    async def _start() -> None:
        loader.start()

    @app.on_event("shutdown")
    async def _stop() -> None:
        if state.engine_client is not None:
            state.engine_client.engine.stop()

    log.info("Serving the OpenAI API on http://%s:%d (health: /v1/health/ready, metrics: /v1/metrics)",
             host, listen)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=listen, log_config=None, access_log=False,
                                           timeout_graceful_shutdown=5, lifespan="on"))
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits on a failed start-up; keep our exit status contract
        print(f"error: the server stopped during start-up (status {exc.code})\n  next: read the log above",
              file=sys.stderr)
        return 1
    return 0 if server.started else 1


def _port_busy(host: str, port: int) -> str | None:
    """Bind-test the port before loading anything, so a clash costs no model load and says so plainly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None
