"""The native engine's fused decode step (nimlab/engine/fused.py): its KV blocks, its batch-invariant attention,
and its arithmetic against the model's own forward."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nimlab.engine.fused import BLOCK, BlockCache, FusedDecoder, attend, attention_bias

KV_HEADS, GROUPS, DIM = 3, 3, 64


def filled_cache(lengths: list[int], seed: int = 0, layers: int = 1) -> tuple[BlockCache, list[torch.Tensor],
                                                                              list[torch.Tensor]]:
    """A cache holding random keys/values for rows of these lengths, written as a step writes prompts; also
    returns them in the model's own left-padded layout ([rows, Hkv, width, D] per layer)."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    keys = [torch.zeros(len(lengths), KV_HEADS, width, DIM) for _ in range(layers)]
    values = [torch.zeros(len(lengths), KV_HEADS, width, DIM) for _ in range(layers)]
    cache = BlockCache(layers, KV_HEADS, DIM, torch.float32, max_rows=8)
    cache.reserve(width)
    start = cache.open(len(lengths))
    for layer, (k, v) in enumerate(zip(keys, values, strict=True)):
        for j, n in enumerate(lengths):
            k[j, :, width - n:] = torch.randn(KV_HEADS, n, DIM, generator=gen)
            v[j, :, width - n:] = torch.randn(KV_HEADS, n, DIM, generator=gen)
            cache.write_prompt(layer, start + j, k[j, :, width - n:], v[j, :, width - n:])
    cache.lengths = torch.tensor(lengths)
    return cache, keys, values


def run_attention(cache: BlockCache, q: torch.Tensor) -> torch.Tensor:
    blocks = (int(cache.lengths.max()) + BLOCK - 1) // BLOCK
    bias = attention_bias(cache.lengths, blocks * BLOCK, KV_HEADS, GROUPS)
    return attend(q, cache.keys[0][:blocks], cache.values[0][:blocks], bias, DIM ** -0.5)


def test_blocks_hold_each_row_from_position_zero_and_hand_back_the_models_layout():
    cache, keys, values = filled_cache([5, 200, 129])
    assert cache.blocks == 2, "201 positions need two blocks of 128"
    back_k, back_v, mask = cache.padded()
    assert torch.equal(back_k[0], keys[0]) and torch.equal(back_v[0], values[0])
    assert mask.sum(1).tolist() == [5, 200, 129]
    # row 0's tokens sit at positions 0..4 of the first block (keys transposed), zeros after them
    assert torch.equal(cache.keys[0][0][0, :, :, :5], keys[0][0, :, -5:].transpose(-1, -2))
    assert not cache.keys[0][0][0, :, :, 5:].any() and not cache.values[0][1][0].any()


def test_dropping_rows_moves_the_survivors_forward_and_frees_blocks():
    cache, keys, _ = filled_cache([300, 7, 40])
    assert cache.blocks == 3
    cache.keep([2, 1])
    assert cache.lengths.tolist() == [40, 7] and cache.blocks == 1, "no row needs the 2nd and 3rd block now"
    back_k, _, _ = cache.padded()
    assert torch.equal(back_k[0][0, :, -40:], keys[0][2, :, -40:])
    assert torch.equal(back_k[0][1, :, -7:], keys[0][1, :, -7:])


def test_a_new_row_in_a_reused_slot_starts_clean():
    cache, _, _ = filled_cache([250, 250])
    cache.keep([0])
    assert cache.open(1) == 1
    assert cache.lengths.tolist() == [250, 0]
    assert not cache.keys[0][0][1].any() and not cache.values[0][1][1].any(), "the old row's tokens remain"


def test_new_tokens_land_at_each_rows_own_position_across_blocks():
    cache, _, _ = filled_cache([127, 128, 3])
    key = torch.arange(3, dtype=torch.float32)[:, None, None].expand(3, KV_HEADS, DIM) + 1
    cache.reserve(129)  # a step reserves room for its tokens first
    cache.write(0, key, key, cache.placement(3))
    assert torch.equal(cache.keys[0][0][0, :, :, 127], key[0]), "row 0 fills the last slot of block 0"
    assert torch.equal(cache.values[0][1][1, :, 0], key[1]), "row 1 starts block 1"
    assert torch.equal(cache.values[0][0][2, :, 3], key[2])


@pytest.mark.parametrize("lengths", [[1, 17, 90, 128], [5, 129, 300, 40, 1000, 2, 255, 256], [260, 300, 390, 257, 1000, 450, 333, 500]])
def test_attention_gives_a_row_the_same_bits_alone_as_in_any_batch(lengths):
    """The property the int8 engine needs: extra rows and extra blocks never change a row's output."""
    cache, keys, values = filled_cache(lengths, seed=1)
    q = torch.randn(len(lengths) * KV_HEADS, GROUPS, DIM, generator=torch.Generator().manual_seed(2))
    together = run_attention(cache, q)
    width = max(lengths)
    for j, n in enumerate(lengths):
        alone_cache = BlockCache(1, KV_HEADS, DIM, torch.float32, max_rows=1)
        alone_cache.reserve(n)
        alone_cache.write_prompt(0, alone_cache.open(1), keys[0][j, :, width - n:], values[0][j, :, width - n:])
        alone_cache.lengths = torch.tensor([n])
        alone = run_attention(alone_cache, q[j * KV_HEADS:(j + 1) * KV_HEADS])
        assert torch.equal(alone, together[j * KV_HEADS:(j + 1) * KV_HEADS]), f"row of {n} tokens changed in a batch"
        reference = torch.nn.functional.scaled_dot_product_attention(
            q[j * KV_HEADS:(j + 1) * KV_HEADS], keys[0][j, :, width - n:], values[0][j, :, width - n:])
        torch.testing.assert_close(alone, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_the_fused_step_computes_what_the_models_forward_computes():
    """fp32 weights: newcomers' prompts inside a step beside running rows, then a decode step; every next-token
    logit matches the model's own forward over the same tokens."""
    from nimlab.engine import load_model

    model = load_model("fp32", cache_dir=Path(os.environ["NIM_CACHE_PATH"])).model
    gen = torch.Generator().manual_seed(3)
    prompts = [torch.randint(100, 40000, (n,), generator=gen).tolist() for n in (9, 140, 31)]

    def reference(ids: list[int]) -> torch.Tensor:
        return model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1]

    with torch.inference_mode():
        fused = FusedDecoder(model)
        cache = fused.cache(max_rows=8)
        running, first = fused.step(torch.zeros(0, dtype=torch.long), cache, prompts[:1])
        assert running.shape[0] == 0 and cache.lengths.tolist() == [9]
        nxt = [int(first[0].argmax())]
        running, first = fused.step(torch.tensor(nxt), cache, prompts[1:])  # one running row, two newcomers
        assert cache.lengths.tolist() == [10, 140, 31]
        got = [running[0], first[0], first[1]]
        expected = [reference(prompts[0] + nxt), reference(prompts[1]), reference(prompts[2])]
        nxt2 = torch.tensor([int(g.argmax()) for g in got])
        step, none = fused.step(nxt2, cache)
        assert none.shape[0] == 0 and cache.lengths.tolist() == [11, 141, 32]
        expected_step = [reference(p + ([nxt[0]] if j == 0 else []) + [int(nxt2[j])]) for j, p in enumerate(prompts)]
    for g, e in zip([*got, *step], [*expected, *expected_step], strict=True):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=2e-4)
        assert int(g.argmax()) == int(e.argmax())
