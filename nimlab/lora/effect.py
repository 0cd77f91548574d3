"""Did the adapter learn its task, and did the base stay as it was? Measured through the serving engine.

The held-out prompts go through one Engine twice in the same batch, once naming the adapter and once
not, exactly as mixed traffic reaches the course NIM; the task's rule says which replies follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nimlab.engine import Engine, SamplingParams, load_model
from nimlab.engine.chat import encode_question
from nimlab.engine.weights import default_cache
from nimlab.lora.tasks import Task


@dataclass(frozen=True)
class Effect:
    task: str
    prompts: tuple[str, ...]
    with_adapter: tuple[str, ...]
    base: tuple[str, ...]
    follows_with: int
    follows_base: int

    def rows(self) -> list[tuple[str, str, str]]:
        return list(zip(self.prompts, self.with_adapter, self.base, strict=True))


def measure(engine: Engine, adapter: str, task: Task, max_tokens: int = 32) -> Effect:
    prompts = list(task.held_out)
    ids = [encode_question(engine.tokenizer, p) for p in prompts]
    params = SamplingParams(max_tokens=max_tokens, temperature=0)
    done = engine.generate_many(ids + ids, params, adapters=[adapter] * len(ids) + [None] * len(ids))
    tuned = tuple(c.text for c in done[: len(ids)])
    base = tuple(c.text for c in done[len(ids):])
    return Effect(task.name, tuple(prompts), tuned, base, sum(map(task.follows, tuned)), sum(map(task.follows, base)))


def measure_folder(folder: Path, task: Task, cache_dir: Path | None = None) -> Effect:
    """Load the model, add the adapter from `folder`, measure, stop: for the CLI and the tests."""
    engine = Engine(load_model("fp32", cache_dir=cache_dir or default_cache()), max_num_seqs=8,
                    kv_capacity_tokens=16384)
    engine.start()
    try:
        engine.add_adapter(folder.name, folder)
        return measure(engine, folder.name, task)
    finally:
        engine.stop()
