"""Batch-invariant attention: each sequence attends over its own tokens only, never over its padding.

The engine left-pads sequences so that a batch shares one KV width. Attention over a padded row is
mathematically the same as over the bare row, but not bit for bit: the padding shifts the real keys
across the CPU kernel's vector lanes and changes the order of its sums (measured: equal only when the
padding is a multiple of 16). Those last-bit differences are harmless in fp32, yet the int8 path rounds
every activation to a step of its row's scale, and one flipped rounding steers greedy decoding: 3 of 12
replies stayed the same inside a batch of 8 with padded attention. Slicing each row to its real tokens
makes the kernel see exactly the shapes and values it sees when the request runs alone.

The cost is one attention call per row instead of one per batch; attention is a small part of a step
for a 135M model at this context length.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NAME = "nimlab_rowwise"
_registered = False


_firsts: tuple[torch.Tensor | None, list[int]] = (None, [])


def _first_real_keys(mask: torch.Tensor | None, batch: int, kv_len: int) -> list[int]:
    """Index of each row's first real key, from the mask the model built (bool: True attends; float: 0
    attends). Every layer of one forward gets the same mask object, so this runs once per step, not per layer."""
    global _firsts
    if mask is None:
        return [0] * batch
    if _firsts[0] is mask:
        return _firsts[1]
    last = mask[:, 0, -1, -kv_len:]
    attends = last if last.dtype == torch.bool else last == 0
    found = attends.any(dim=1)
    first = attends.to(torch.uint8).argmax(dim=1)  # argmax returns the first maximum
    firsts = [int(f) if ok else kv_len for f, ok in zip(first.tolist(), found.tolist(), strict=True)]
    if len(firsts) == 1 and batch > 1:
        firsts = firsts * batch
    _firsts = (mask, firsts)
    return firsts


def rowwise_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                      is_causal: bool | None = None, **_: Any) -> tuple[torch.Tensor, None]:
    """query [B, H, Tq, D], key/value [B, Hkv, Tk, D] -> ([B, Tq, H, D], None), one row at a time.

    Grouped-query heads are never copied: a decode step folds each KV head's query heads into the query
    axis (one KV head, `groups` queries), and a prefill lets SDPA share the KV heads (`enable_gqa`)."""
    batch, heads, q_len, dim = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    groups = heads // kv_heads
    out = query.new_empty((batch, q_len, heads, value.shape[-1]))
    firsts = _first_real_keys(attention_mask, batch, kv_len)
    for row in range(batch):
        first = firsts[row]
        k = key[row:row + 1, :, first:]
        v = value[row:row + 1, :, first:]
        if q_len == 1:  # decode: [1, H, 1, D] -> [1, Hkv, groups, D], no mask needed over the row's own keys
            o = F.scaled_dot_product_attention(query[row:row + 1].reshape(1, kv_heads, groups, dim), k, v,
                                               scale=scaling)
            out[row, 0] = o.reshape(heads, -1)
            continue
        out[row].zero_()
        if q_len == kv_len:  # a prefill: queries are padded exactly like keys
            q, start = query[row:row + 1, :, first:], first
            if q.shape[2] == 0:
                continue
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scaling, enable_gqa=groups > 1)
        else:  # queries over a cache (not used by the engine): keep the mask's own causal structure
            mask = attention_mask[row:row + 1, :, :, first:] if attention_mask is not None else None
            q, start = query[row:row + 1], 0
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling, enable_gqa=groups > 1)
        out[row, start:] = o[0].transpose(0, 1)
    return out, None


def use_rowwise_attention(model: Any) -> None:
    """Register the function with transformers once and switch `model` to it (the masks stay SDPA's)."""
    global _registered
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, sdpa_mask

    if not _registered:
        AttentionInterface.register(NAME, rowwise_attention)
        AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS.get("sdpa", sdpa_mask))
        _registered = True
    model.set_attn_implementation(NAME)
