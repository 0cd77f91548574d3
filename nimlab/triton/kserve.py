"""Small KServe v2 helpers over tritonclient (tests, bench, labs): typed inputs, a collected gRPC stream,
and Triton's batch statistics from its Prometheus metrics."""

from __future__ import annotations

import queue
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

_DTYPES = {bool: np.bool_, int: np.int32, float: np.float32, str: np.object_, bytes: np.object_}


def inputs(module: Any, batched: bool = True, **values: Any) -> list[Any]:
    """InferInputs for tritonclient.http or .grpc: str -> BYTES, int -> INT32, float -> FP32, bool -> BOOL;
    a list becomes a 1-D tensor; `batched` adds the leading batch dim of 1."""
    from tritonclient.utils import np_to_triton_dtype

    out = []
    for name, value in values.items():
        items = value if isinstance(value, list) else [value]
        dtype = np.uint64 if name == "random_seed" else _DTYPES[type(items[0])]
        items = [v.encode() if isinstance(v, str) else v for v in items]
        arr = np.array(items, dtype=dtype)
        if batched:
            arr = arr.reshape(1, -1)
        t = module.InferInput(name, list(arr.shape), np_to_triton_dtype(arr.dtype))
        t.set_data_from_numpy(arr)
        out.append(t)
    return out


def stream(grpc_url: str, model: str, infer_inputs: list[Any], timeout: float = 120.0) -> list[Any]:
    """Send one request on a gRPC stream; return every response up to the final one (errors raise)."""
    import tritonclient.grpc as grpcclient

    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    try:
        client.async_stream_infer(model, infer_inputs, enable_empty_final_response=True)
        out = []
        while True:
            result, error = responses.get(timeout=timeout)
            if error is not None:
                raise error
            final = result.get_response().parameters["triton_final_response"].bool_param
            if result.get_response().outputs:
                out.append(result)
            if final:
                return out
    finally:
        client.stop_stream()
        client.close()


@dataclass(frozen=True)
class BatchStats:
    inference_count: float  # requests Triton executed
    exec_count: float  # execute() calls it made

    @property
    def average_batch(self) -> float:
        return self.inference_count / self.exec_count if self.exec_count else 0.0

    def __sub__(self, other: BatchStats) -> BatchStats:
        return BatchStats(self.inference_count - other.inference_count, self.exec_count - other.exec_count)


def batch_stats(metrics_url: str) -> dict[str, BatchStats]:
    """{model: BatchStats} from nv_inference_count / nv_inference_exec_count (avg batch = count / exec)."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=10).text):
        if family.name in ("nv_inference_count", "nv_inference_exec_count"):
            for s in family.samples:
                counts.setdefault(s.labels["model"], {})[family.name] = s.value
    return {m: BatchStats(v.get("nv_inference_count", 0.0), v.get("nv_inference_exec_count", 0.0))
            for m, v in counts.items()}
