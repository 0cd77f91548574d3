"""Exercise 6 on the real Triton: load a sanitized copy of the learner's config (explicit model control),
send concurrent requests, and read back what Triton loaded and how many executions served them."""

from __future__ import annotations

import fcntl
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent


def _one_at_a_time(repo: Path) -> Any:
    """An exclusive lock beside the grader's repository: one learner model on the server at a time, so the
    statistics stay the learner's own. A file lock, because batch grading runs checks on several threads and
    this module may be loaded more than once (a module-level threading.Lock would not be shared)."""
    handle = (repo.parent / f"{repo.name}.live.lock").open("a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def sanitized(cfg: Any, name: str) -> str:
    """Only the fields the exercise is about survive (no parameters, agents or paths from the learner)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as m

    out = m.ModelConfig(name=name, backend="python", max_batch_size=max(0, min(cfg.max_batch_size, 256)))
    for src, dst in ((cfg.input, out.input), (cfg.output, out.output)):
        for t in list(src)[:4]:
            dst.add(name=t.name[:64], data_type=t.data_type, dims=list(t.dims)[:4])
    if cfg.HasField("dynamic_batching"):
        out.dynamic_batching.max_queue_delay_microseconds = min(cfg.dynamic_batching.max_queue_delay_microseconds,
                                                                100_000)
        out.dynamic_batching.preferred_batch_size.extend(list(cfg.dynamic_batching.preferred_batch_size)[:8])
    for g in list(cfg.instance_group)[:4]:
        out.instance_group.add(count=max(1, min(g.count or 1, 4)), kind=m.ModelInstanceGroup.KIND_CPU)
    return text_format.MessageToString(out)


def run(cfg: Any, repo: str, http: str, requests: int = 48, clients: int = 12) -> dict[str, Any]:
    """{"loaded", "error", "instances", "inferences", "executions"} for this config on the live server."""
    with _one_at_a_time(Path(repo)):
        name = f"learner_{uuid.uuid4().hex[:12]}"
        model_dir = Path(repo) / name
        (model_dir / "1").mkdir(parents=True)
        shutil.copy(HERE / "live_model.py", model_dir / "1" / "model.py")
        (model_dir / "config.pbtxt").write_text(sanitized(cfg, name))
        result: dict[str, Any] = {"loaded": False, "error": "", "instances": 0, "inferences": 0, "executions": 0}
        try:
            with httpx.Client(base_url=http, timeout=60) as client:
                r = client.post(f"/v2/repository/models/{name}/load")
                if r.status_code != 200:
                    result["error"] = r.json().get("error", r.text)[:400]
                    return result
                result["loaded"] = True
                loaded = client.get(f"/v2/models/{name}/config").json()
                result["instances"] = sum(int(g.get("count", 1)) for g in loaded.get("instance_group", []))
                shape = [1, 1] if cfg.max_batch_size > 0 else [1]
                body = {"inputs": [{"name": "text_input", "shape": shape, "datatype": "BYTES", "data": ["hi"]}]}

                def client_loop() -> None:
                    with httpx.Client(base_url=http, timeout=30) as c:
                        for _ in range(requests // clients):
                            c.post(f"/v2/models/{name}/infer", json=body)

                threads = [threading.Thread(target=client_loop) for _ in range(clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                stats = client.get(f"/v2/models/{name}/stats").json()["model_stats"][0]
                result["inferences"] = int(stats.get("inference_count", 0))
                result["executions"] = int(stats.get("execution_count", 0))
                client.post(f"/v2/repository/models/{name}/unload")
        except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"[:400]
        finally:
            shutil.rmtree(model_dir, ignore_errors=True)
        return result
