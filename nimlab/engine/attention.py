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


def _first_real_key(mask: torch.Tensor | None, row: int, kv_len: int) -> int:
    """Index of the row's first real key, from the mask the model built (bool: True attends; float: 0 attends)."""
    if mask is None:
        return 0
    last = mask[row if mask.shape[0] > 1 else 0, 0, -1, -kv_len:]
    attends = last if last.dtype == torch.bool else last == 0
    idx = torch.nonzero(attends)
    return int(idx[0]) if len(idx) else kv_len


def rowwise_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                      is_causal: bool | None = None, **_: Any) -> tuple[torch.Tensor, None]:
    """query [B, H, Tq, D], key/value [B, Hkv, Tk, D] -> ([B, Tq, H, D], None), one row at a time."""
    batch, heads, q_len, dim = query.shape
    kv_len = key.shape[2]
    groups = heads // key.shape[1]
    out = query.new_zeros((batch, q_len, heads, value.shape[-1]))
    for row in range(batch):
        first = _first_real_key(attention_mask, row, kv_len)
        k = key[row:row + 1, :, first:]
        v = value[row:row + 1, :, first:]
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        if q_len == 1:
            q, causal, start = query[row:row + 1], False, 0
        elif q_len == kv_len:  # a prefill: queries are padded exactly like keys
            q, causal, start = query[row:row + 1, :, first:], True, first
        else:  # queries over a cache (not used by the engine): keep the mask's own causal structure
            mask = attention_mask[row:row + 1, :, :, first:] if attention_mask is not None else None
            o = F.scaled_dot_product_attention(query[row:row + 1], k, v, attn_mask=mask, scale=scaling)
            out[row] = o[0].transpose(0, 1)
            continue
        if q.shape[2] == 0:
            continue
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scaling)
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
