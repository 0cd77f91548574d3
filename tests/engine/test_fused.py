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
    """A cache holding random keys/values for rows of these lengths, added as a left-padded prefill is."""
    gen = torch.Generator().manual_seed(seed)
    width = max(lengths)
    keys = [torch.zeros(len(lengths), KV_HEADS, width, DIM) for _ in range(layers)]
    values = [torch.zeros(len(lengths), KV_HEADS, width, DIM) for _ in range(layers)]
    for k, v in zip(keys, values, strict=True):
        for j, n in enumerate(lengths):
            k[j, :, width - n:] = torch.randn(KV_HEADS, n, DIM, generator=gen)
            v[j, :, width - n:] = torch.randn(KV_HEADS, n, DIM, generator=gen)
    cache = BlockCache(layers, KV_HEADS, DIM, torch.float32, max_rows=8)
    cache.add(keys, values, lengths)
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
    fresh = torch.ones(1, KV_HEADS, 3, DIM)
    cache.add([fresh], [fresh], [3])
    assert cache.lengths.tolist() == [250, 3]
    assert not cache.keys[0][0][1, :, :, 3:].any() and not cache.keys[0][1][1].any(), "the old row's tokens remain"


def test_new_tokens_land_at_each_rows_own_position_across_blocks():
    cache, _, _ = filled_cache([127, 128, 3])
    key = torch.arange(3, dtype=torch.float32)[:, None, None].expand(3, KV_HEADS, DIM) + 1
    cache.write(0, key, key, cache.placement())
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
        alone_cache.add([keys[0][j:j + 1, :, width - n:]], [values[0][j:j + 1, :, width - n:]], [n])
        alone = run_attention(alone_cache, q[j * KV_HEADS:(j + 1) * KV_HEADS])
        assert torch.equal(alone, together[j * KV_HEADS:(j + 1) * KV_HEADS]), f"row of {n} tokens changed in a batch"
        reference = torch.nn.functional.scaled_dot_product_attention(
            q[j * KV_HEADS:(j + 1) * KV_HEADS], keys[0][j, :, width - n:], values[0][j, :, width - n:])
        torch.testing.assert_close(alone, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_the_fused_step_computes_what_the_models_forward_computes():
    """fp32 weights, rows of different lengths: the next-token logits of one fused step match the model's."""
    from transformers import DynamicCache

    from nimlab.engine import load_model

    loaded = load_model("fp32", cache_dir=Path(os.environ["NIM_CACHE_PATH"]))
    model = loaded.model
    lengths = [9, 140, 31]
    gen = torch.Generator().manual_seed(3)
    prompts = [torch.randint(100, 40000, (n,), generator=gen) for n in lengths]
    width = max(lengths)
    ids = torch.zeros((3, width), dtype=torch.long)
    mask = torch.zeros((3, width), dtype=torch.long)
    for j, p in enumerate(prompts):
        ids[j, width - len(p):], mask[j, width - len(p):] = p, 1
    nxt = torch.randint(100, 40000, (3,), generator=gen)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                    cache=DynamicCache(), use_cache=True, logits_to_keep=1)
        fused = FusedDecoder(model)
        cache = fused.cache(max_rows=8)
        cache.add([layer.keys for layer in out.cache.layers], [layer.values for layer in out.cache.layers], lengths)
        got = fused.step(nxt, cache)
        expected = [model(input_ids=torch.cat([p, nxt[j:j + 1]])[None], logits_to_keep=1).logits[0, -1]
                    for j, p in enumerate(prompts)]
    assert cache.lengths.tolist() == [n + 1 for n in lengths]
    for j in range(3):
        torch.testing.assert_close(got[j], expected[j], rtol=1e-4, atol=2e-4)
        assert int(got[j].argmax()) == int(expected[j].argmax())
