"""The engine's schedules: in-flight batching, V1 static batching, one at a time; and batch invariance.

A request's greedy reply must not depend on its batch neighbours, on any precision: the int8 path quantizes
activations per token (one scale per row), so a row's arithmetic is its own. Torch's stock dynamic
quantization took one scale for the whole batch and broke this (11 of 12 replies changed inside a batch).
"""

from __future__ import annotations

import os
import threading

import pytest

from nimlab.engine import Engine, SamplingParams, load_model

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about GPUs.",
    "Explain batching in one sentence.",
    "List three colors.",
    "What is 2+2?",
    "Tell me a fun fact about cats.",
    "How do rainbows form?",
    "Name a famous scientist.",
    "Why is the sea salty?",
    "Give me a tip for learning to cook.",
    "What does a compiler do?",
    "Describe autumn in one sentence.",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    import os
    from pathlib import Path

    return load_model("fp32", cache_dir=Path(os.environ["NIM_CACHE_PATH"]))


@pytest.fixture(scope="module")
def prompt_ids(loaded):
    tok = loaded.tokenizer
    out = []
    for p in PROMPTS:
        text = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        out.append(tok(text, add_special_tokens=False)["input_ids"])
    return out


def run_concurrently(engine: Engine, prompts: list[list[int]], params: SamplingParams) -> list[list[int]]:
    results: list[list[int]] = [[] for _ in prompts]

    def one(i: int) -> None:
        for delta in engine.generate(prompts[i], params, timeout=300):
            results[i].extend(delta.token_ids)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results


@pytest.mark.parametrize(("precision", "preallocated_kv"), [("int8", True), ("fp32", False)],
                         ids=["optimized-int8", "generic-fp32"])
def test_a_reply_does_not_depend_on_its_batch_neighbours(precision, preallocated_kv, prompt_ids):
    """Concurrency 1 (each prompt alone) vs 12 prompts at once into 8 slots (mixed lengths, mid-flight joins),
    with each profile's engine as it runs (the optimized one writes its KV cache in place)."""
    import os
    from pathlib import Path

    model = load_model(precision, cache_dir=Path(os.environ["NIM_CACHE_PATH"]))
    params = SamplingParams(max_tokens=32, temperature=0)
    engine = Engine(model, max_num_seqs=8, kv_capacity_tokens=16384, preallocated_kv=preallocated_kv)
    engine.start()
    try:
        alone = [[t for d in engine.generate(ids, params) for t in d.token_ids] for ids in prompt_ids]
        assert engine.max_batch_seen == 1
        together = run_concurrently(engine, prompt_ids, params)
        assert engine.max_batch_seen == 8, "the prompts must have shared batches"
    finally:
        engine.stop()
    assert all(alone)
    same = sum(a == b for a, b in zip(alone, together, strict=True))
    assert same == len(prompt_ids), f"{precision}: only {same}/{len(prompt_ids)} replies unchanged inside a batch"


def test_v1_static_batching_admits_nobody_into_a_running_batch(loaded, prompt_ids):
    """TensorRT-LLM's V1 is static batching, not one request at a time: late arrivals wait for the batch."""
    long = SamplingParams(max_tokens=24, temperature=0, ignore_eos=True)
    order: dict[str, list[str]] = {}
    for mode, static in (("V1", True), ("inflight", False)):
        engine = Engine(loaded, max_num_seqs=8, kv_capacity_tokens=16384, static_batching=static)
        engine.start()
        events: list[str] = []
        try:
            def run_first(engine: Engine = engine, events: list[str] = events) -> None:
                for _ in engine.generate(prompt_ids[0], long):
                    events.append("A")

            first = threading.Thread(target=run_first)
            first.start()
            while "A" not in events:
                threading.Event().wait(0.01)
            late = list(engine.generate(prompt_ids[1], SamplingParams(max_tokens=2, temperature=0)))
            events.append("B-done")
            first.join(timeout=300)
            order[mode] = events
            batch = engine.max_batch_seen
        finally:
            engine.stop()
        assert late and late[-1].finish_reason
        assert batch == (1 if static else 2)
    assert order["V1"][-1] == "B-done", "V1 let a request join a running batch"
    assert order["inflight"][-1] == "A", "in-flight batching must admit the late request at once"


def test_greedy_is_deterministic_and_sampling_follows_the_seed(loaded, prompt_ids):
    engine = Engine(loaded, max_num_seqs=4, kv_capacity_tokens=8192)
    engine.start()
    try:
        def tokens(params):
            return [t for d in engine.generate(prompt_ids[1], params) for t in d.token_ids]

        greedy = SamplingParams(max_tokens=24, temperature=0)
        assert tokens(greedy) == tokens(greedy)
        seeded = SamplingParams(max_tokens=24, temperature=1.2, seed=42)
        assert tokens(seeded) == tokens(seeded)
        assert tokens(seeded) != tokens(SamplingParams(max_tokens=24, temperature=1.2, seed=43))
    finally:
        engine.stop()


KV_LAYOUTS = {
    "growing (generic)": {"preallocated_kv": False},
    "in place (native, model forward)": {"preallocated_kv": True, "fused_decode": False},
    "blocks (native, fused step)": {"preallocated_kv": True, "fused_decode": True},
}


def test_every_kv_layout_and_decode_path_computes_the_same_tokens(loaded, prompt_ids):
    """Same fp32 weights, three engines: requests joining and leaving mid-flight, identical greedy tokens."""
    params = SamplingParams(max_tokens=24, temperature=0)
    replies = {}
    for name, layout in KV_LAYOUTS.items():
        engine = Engine(loaded, max_num_seqs=4, kv_capacity_tokens=16384, **layout)
        engine.start()
        try:
            replies[name] = run_concurrently(engine, prompt_ids, params)
        finally:
            engine.stop()
    first = replies["growing (generic)"]
    assert all(first)
    for name, got in replies.items():
        assert got == first, f"{name}: {sum(a == b for a, b in zip(got, first, strict=True))}/{len(first)} the same"


def test_an_adapter_loaded_mid_batch_hands_the_running_rows_to_the_models_forward(loaded, prompt_ids, tmp_path):
    """peft wraps the linears the fused step reads: the running batch moves to the model's own cache layout
    and carries on; base-model rows give the tokens they give without the adapter."""
    from peft import LoraConfig, get_peft_model


    params = SamplingParams(max_tokens=40, temperature=0, ignore_eos=True)
    model = load_model("fp32", cache_dir=loaded_cache())
    reference = Engine(model, max_num_seqs=4, kv_capacity_tokens=16384, preallocated_kv=True)
    reference.start()
    try:
        expected = run_concurrently(reference, prompt_ids[:4], params)
    finally:
        reference.stop()
    adapter = get_peft_model(load_model("fp32", cache_dir=loaded_cache()).model,
                             LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter.save_pretrained(tmp_path / "tiny")
    engine = Engine(model, max_num_seqs=4, kv_capacity_tokens=16384, preallocated_kv=True)
    assert engine._fused is not None
    engine.start()
    results: list[list[int]] = [[] for _ in range(4)]

    def one(i: int) -> None:
        for delta in engine.generate(prompt_ids[i], params, timeout=300):
            results[i].extend(delta.token_ids)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        while engine.stats().running < 4 or min(len(r) for r in results) < 5:
            threading.Event().wait(0.01)
        engine.add_adapter("tiny", tmp_path / "tiny")
        assert engine._fused is None, "the engine must leave the fused step once an adapter exists"
        for t in threads:
            t.join(timeout=300)
    finally:
        engine.stop()
    assert results == expected


def loaded_cache():
    from pathlib import Path

    return Path(os.environ["NIM_CACHE_PATH"])


def test_max_tokens_ignore_eos_and_kv_pool_cap(loaded, prompt_ids):
    # a pool that fits one request at a time forces queueing instead of unbounded memory
    need = len(prompt_ids[0]) + 16
    engine = Engine(loaded, max_num_seqs=8, kv_capacity_tokens=need + 5)
    engine.start()
    try:
        results = run_concurrently(engine, prompt_ids[:3], SamplingParams(max_tokens=16, temperature=0,
                                                                          ignore_eos=True))
        assert [len(r) for r in results] == [16, 16, 16]
        assert engine.max_batch_seen == 1, "the KV cap must have kept requests from running together"
        assert engine.stats().kv_used_tokens == 0
    finally:
        engine.stop()


def test_cancelled_request_frees_its_slot(loaded, prompt_ids):
    engine = Engine(loaded, max_num_seqs=1, kv_capacity_tokens=4096)
    engine.start()
    try:
        stream = engine.generate(prompt_ids[0], SamplingParams(max_tokens=500, temperature=0, ignore_eos=True))
        next(stream)
        stream.close()  # the consumer goes away: generate() cancels the request
        # the single slot must be free again: a new request completes
        done = [d for d in engine.generate(prompt_ids[1], SamplingParams(max_tokens=5, temperature=0))]
        assert done[-1].finish_reason in ("stop", "length")
        assert engine.stats().running == 0
    finally:
        engine.stop()
