"""The engine's two real schedules over the same fp32 weights: same greedy tokens, different batching."""

from __future__ import annotations

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


def test_inflight_and_serial_give_identical_greedy_tokens(loaded, prompt_ids):
    params = SamplingParams(max_tokens=40, temperature=0)
    outputs = {}
    for name, seqs in (("serial", 1), ("inflight", 8)):
        engine = Engine(loaded, max_num_seqs=seqs, kv_capacity_tokens=16384)
        engine.start()
        try:
            outputs[name] = run_concurrently(engine, prompt_ids, params)
            outputs[name + "_batch"] = engine.max_batch_seen
        finally:
            engine.stop()
    assert outputs["serial_batch"] == 1, "the serial schedule must never batch"
    assert outputs["inflight_batch"] > 1, "the in-flight schedule must have batched concurrent requests"
    assert all(outputs["serial"]), "every request produced tokens"
    assert outputs["serial"] == outputs["inflight"]


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
