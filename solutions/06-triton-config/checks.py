"""Checks for exercise 6: the real Triton schema (tritonclient's model_config_pb2) plus what Triton won't say."""

from __future__ import annotations

from functools import cache
from typing import Any

from nimlab.grader.checks import Check


@cache
def _parse(text: str) -> tuple[Any, str]:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    cfg = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, cfg)
    except text_format.ParseError as exc:
        return None, f"config.pbtxt does not parse with Triton's schema: {exc}"
    if not cfg.name:
        return None, "config.pbtxt declares no model (name is empty)"
    return cfg, ""


def _cfg_check(fn: Any) -> Any:
    def check(value: Any, expect: Any, test: Any) -> Check:
        cfg, why = _parse(value)
        return (0.0, why) if cfg is None else fn(cfg)
    check.__name__ = fn.__name__
    return check


@_cfg_check
def parses(cfg: Any) -> Check:
    return 1.0, "parses with Triton's ModelConfig schema"


@_cfg_check
def identity(cfg: Any) -> Check:
    if cfg.name == "preprocessing" and cfg.backend == "python":
        return 1.0, "name and backend right"
    return 0.0, f"expected name \"preprocessing\" and backend \"python\", got {cfg.name!r} / {cfg.backend!r}"


@_cfg_check
def batch_size(cfg: Any) -> Check:
    if cfg.max_batch_size >= 8:
        return 1.0, "max_batch_size allows batching"
    if cfg.max_batch_size == 0:
        return 0.0, "max_batch_size 0 disables batching: Triton loads it with dynamic_batching and never batches"
    return 0.0, f"max_batch_size {cfg.max_batch_size} is below the 8 the statement asks for"


@_cfg_check
def dynamic(cfg: Any) -> Check:
    if not cfg.HasField("dynamic_batching"):
        return 0.0, "no dynamic_batching block"
    if cfg.max_batch_size == 0:
        return 0.0, "dynamic_batching with max_batch_size 0 does nothing"
    if cfg.dynamic_batching.max_queue_delay_microseconds <= 0:
        return 0.5, "dynamic_batching is on, but without a queue delay it rarely gathers a batch on a busy CPU"
    return 1.0, "dynamic batching with a queue delay"


@_cfg_check
def delay_sane(cfg: Any) -> Check:
    d = cfg.dynamic_batching.max_queue_delay_microseconds
    return (1.0, "delay bounded") if 0 < d <= 100_000 else (0.0, "the queue delay should be between 1 us and 100 ms")


@_cfg_check
def preferred(cfg: Any) -> Check:
    sizes = list(cfg.dynamic_batching.preferred_batch_size)
    if not sizes:
        return 0.0, "give dynamic_batching at least one preferred_batch_size"
    if all(0 < s <= cfg.max_batch_size for s in sizes):
        return 1.0, "preferred batch sizes fit max_batch_size"
    return 0.0, "every preferred_batch_size must be between 1 and max_batch_size"


@_cfg_check
def instances(cfg: Any) -> Check:
    counts = [g.count or 1 for g in cfg.instance_group]
    if any(c < 1 for c in counts):
        return 0.0, f"instance_group counts {counts}: each count must be at least 1"
    total = sum(counts)
    if total == 2:
        return 1.0, "two instances"
    return 0.0, f"{total or 'the default number of'} instance(s); the statement asks for exactly 2"


@_cfg_check
def io(cfg: Any) -> Check:
    from tritonclient.grpc import model_config_pb2 as m

    ins = {(i.name, i.data_type, tuple(i.dims)) for i in cfg.input}
    outs = {(o.name, o.data_type, tuple(o.dims)) for o in cfg.output}
    ok = ("text_input", m.TYPE_STRING, (1,)) in ins and ("input_ids", m.TYPE_INT32, (-1,)) in outs
    return (1.0, "tensors declared") if ok else (
        0.0, "declare input text_input (TYPE_STRING, dims [1]) and output input_ids (TYPE_INT32, dims [-1])")


@cache
def _live_module() -> Any:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("nimlab_ex06_live", Path(__file__).parent / "live.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@cache
def _live(text: str, repo: str, http: str) -> dict:
    cfg, _ = _parse(text)
    return _live_module().run(cfg, repo, http)


def _live_check(fn: Any) -> Any:
    def check(value: Any, expect: dict, test: Any) -> Check:
        cfg, why = _parse(value)
        if cfg is None:
            return 0.0, why
        res = _live(value, expect["repo"], expect["http"])
        if not res["loaded"]:
            return 0.0, f"the real Triton refused it: {res['error']}"
        return fn(res)
    check.__name__ = fn.__name__
    return check


@_live_check
def live_loads(res: dict) -> Check:
    return 1.0, "the real Triton loaded it"


@_live_check
def live_instances(res: dict) -> Check:
    n = res["instances"]
    return (1.0, "Triton runs two instances") if n == 2 else (0.0, f"Triton loaded {n} instance(s), not 2")


@_live_check
def live_batches(res: dict) -> Check:
    inf, ex = res["inferences"], res["executions"]
    if not ex:
        return 0.0, f"no request was served ({res['error'] or 'check the input/output tensors'})"
    avg = inf / ex
    if avg >= 1.2:
        return 1.0, f"batches formed under load: {inf} requests in {ex} executions (average batch {avg:.1f})"
    return 0.0, f"no batches formed: {inf} requests in {ex} executions (average batch {avg:.1f})"
