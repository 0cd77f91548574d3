"""The native engine's decode step: one hand-written forward over the model's own weights, no module dispatch.

A 135M model's decode step on CPU is mostly overhead: transformers runs ~20 Python modules per layer, builds a
mask and a cache object per step, and the batch-invariant attention it needs (attention.py) costs one kernel
call per row and layer. This step, the CPU counterpart of the fused decode kernels a prebuilt TensorRT-LLM
engine runs, does the model's arithmetic (RMSNorm, rotary, grouped-query attention, SiLU MLP, the int8 or fp32
products) over a KV cache kept in blocks of `BLOCK` tokens, as paged KV caches are (TensorRT-LLM, vLLM):

- each row's tokens start at position 0 of its own slot (no left padding), so no row shifts another's data;
- attention runs over the whole batch at once. Scores are computed block by block and the
  probability-times-value product too, so every matrix product has one shape however wide the batch is
  (the CPU kernel sums a longer reduction in a different order); the blocks' results are summed in order,
  and positions past a row's end are masked keys and zero values that add exact zeros. A row's output is
  bit for bit what it is alone (tests/engine/test_fused.py holds the engine to that).

Prefill stays with the model's own forward (one call per admission, per-row attention); its keys and values
are copied into the blocks once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nimlab.engine.int8 import Int8Linear, _w8a8

BLOCK = 128  # KV-cache block: attention's width granularity and every product's fixed length (module docstring)


class _Product:
    """One linear product as the fused step calls it: the int8 joint weight of shared siblings, or fp32."""

    __slots__ = ("bias", "owner", "weight")

    def __init__(self, module: Any) -> None:
        self.owner: Any = None
        self.weight = self.bias = None
        if isinstance(module, Int8Linear):
            self.owner = module.share if module.share is not None else module
        else:
            self.weight, self.bias = module.weight, module.bias

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        o = self.owner
        if o is not None:
            return _w8a8(x, o.qweight_t, o.weight_scale, o.bias, o.packed)
        return F.linear(x, self.weight, self.bias)


def _joint(*modules: Any) -> _Product:
    """Siblings that read one activation as one product: int8 ones already share a joint weight (int8.py); fp32
    ones are concatenated here (exact: each output column is its own dot product)."""
    if all(isinstance(m, Int8Linear) and m.share is not None and m.share is modules[0].share for m in modules):
        return _Product(modules[0])
    joint = torch.nn.Linear(modules[0].in_features, sum(m.out_features for m in modules),
                            bias=modules[0].bias is not None)
    with torch.no_grad():
        joint.weight.copy_(torch.cat([m.weight for m in modules]))
        if joint.bias is not None:
            joint.bias.copy_(torch.cat([m.bias for m in modules]))
    return _Product(joint.requires_grad_(False))


@dataclass(frozen=True)
class _Layer:
    norm_in: torch.Tensor
    qkv: _Product
    o: _Product
    norm_post: torch.Tensor
    gate_up: _Product
    down: _Product


def supports(model: Any) -> bool:
    """The fused step covers Llama-shaped decoders (SmolLM2 is one) with plain or int8 linears, no adapters."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None or getattr(model.config, "model_type", "") != "llama" or getattr(model.config, "mlp_bias", False):
        return False
    if getattr(model.config, "hidden_act", "") != "silu":
        return False
    if inner.embed_tokens.weight.dtype != torch.float32:
        return False  # bf16 stays on the model's forward: the step's masks and rotary angles are fp32
    allowed = (torch.nn.Linear, Int8Linear)
    return all(isinstance(getattr(layer.self_attn, n), allowed) for layer in layers
               for n in ("q_proj", "k_proj", "v_proj", "o_proj")) and isinstance(model.lm_head, allowed)


class BlockCache:
    """Per-layer keys and values in fixed blocks of `BLOCK` tokens, row i's tokens at positions 0..lengths[i]-1.

    Keys are stored transposed ([rows, Hkv, D, BLOCK]) and values as [rows, Hkv, BLOCK, D], each block one
    contiguous tensor: the CPU's batched matrix product takes them as they lie (a strided slice of one long
    buffer cost 3x as much, measured), and a longer context only appends a block, never copies the cache.
    Every position at or past a row's length holds zeros, so a masked key or value adds nothing but exact zeros."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype, max_rows: int) -> None:
        self.kv_heads, self.head_dim, self.dtype, self.max_rows = kv_heads, head_dim, dtype, max_rows
        self.keys: list[list[torch.Tensor]] = [[] for _ in range(layers)]
        self.values: list[list[torch.Tensor]] = [[] for _ in range(layers)]
        self.lengths = torch.zeros(0, dtype=torch.long)

    @property
    def rows(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def blocks(self) -> int:
        return len(self.keys[0])

    def reserve(self, tokens: int) -> None:
        """Blocks for `tokens` positions in every layer (new blocks are zeros)."""
        while self.blocks * BLOCK < tokens:
            for keys, values in zip(self.keys, self.values, strict=True):
                keys.append(torch.zeros((self.max_rows, self.kv_heads, self.head_dim, BLOCK), dtype=self.dtype))
                values.append(torch.zeros((self.max_rows, self.kv_heads, BLOCK, self.head_dim), dtype=self.dtype))

    def _trim(self) -> None:
        """Free the blocks past every row's next position (they are zeros for the live rows)."""
        need = (int(self.lengths.max()) + 1 + BLOCK - 1) // BLOCK if self.rows else 0
        for keys, values in zip(self.keys, self.values, strict=True):
            del keys[need:], values[need:]

    def add(self, keys: list[torch.Tensor], values: list[torch.Tensor], lengths: list[int]) -> None:
        """Take a prefill's left-padded keys/values ([n, Hkv, width, D] per layer, row j's real tokens last)."""
        start, width = self.rows, keys[0].shape[2]
        if start + len(lengths) > self.max_rows:
            raise ValueError(f"{start + len(lengths)} rows do not fit a cache of {self.max_rows}")
        self.reserve(max([n + 1 for n in lengths] + [int(n) + 1 for n in self.lengths]))
        for layer, (src_k, src_v) in enumerate(zip(keys, values, strict=True)):
            for j, n in enumerate(lengths):
                row = start + j
                for b, (kb, vb) in enumerate(zip(self.keys[layer], self.values[layer], strict=True)):
                    lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
                    kb[row].zero_()  # a reused slot must not keep a previous row's tokens
                    vb[row].zero_()
                    if hi > lo:
                        kb[row, :, :, : hi - lo] = src_k[j, :, width - n + lo:width - n + hi].transpose(-1, -2)
                        vb[row, :, : hi - lo] = src_v[j, :, width - n + lo:width - n + hi]
        self.lengths = torch.cat([self.lengths, torch.tensor(lengths, dtype=torch.long)])

    def placement(self) -> list[tuple[int, torch.Tensor | None, torch.Tensor]]:
        """Where this step's tokens go, worked out once per step for every layer: (block, rows or None for
        all of them, offset in the block per row)."""
        positions = self.lengths
        first, last = int(positions.min()) // BLOCK, int(positions.max()) // BLOCK
        if first == last:
            return [(first, None, positions - first * BLOCK)]
        out: list[tuple[int, torch.Tensor | None, torch.Tensor]] = []
        for b in range(first, last + 1):
            rows = (positions // BLOCK == b).nonzero().flatten()
            if rows.numel():
                out.append((b, rows, positions[rows] - b * BLOCK))
        return out

    def write(self, layer: int, key: torch.Tensor, value: torch.Tensor,
              placement: list[tuple[int, torch.Tensor | None, torch.Tensor]]) -> None:
        """Each row's new token ([B, Hkv, D]) at its next position."""
        for b, rows, offsets in placement:
            k, v = (key, value) if rows is None else (key[rows], value[rows])
            index = torch.arange(key.shape[0]) if rows is None else rows
            self.keys[layer][b][index, :, :, offsets] = k
            self.values[layer][b][index, :, offsets] = v

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows, in this order, moved to the front (whole blocks move, zeros included)."""
        if rows != list(range(len(rows))) and rows:
            index = torch.tensor(rows, dtype=torch.long)
            for keys, values in zip(self.keys, self.values, strict=True):
                for blk in (*keys, *values):
                    blk[: len(rows)] = blk.index_select(0, index)
        self.lengths = self.lengths[torch.tensor(rows, dtype=torch.long)] if rows else torch.zeros(0, dtype=torch.long)
        self._trim()

    def padded(self) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """The cache in the model's own layout (left-padded, with its [B, T] mask): to hand the batch back."""
        rows, width = self.rows, int(self.lengths.max())
        mask = torch.zeros((rows, width), dtype=torch.long)
        keys, values = [], []
        for k_blocks, v_blocks in zip(self.keys, self.values, strict=True):
            k_all = torch.cat([blk[:rows].transpose(-1, -2) for blk in k_blocks], dim=2)
            v_all = torch.cat([blk[:rows] for blk in v_blocks], dim=2)
            k, v = k_all.new_zeros((rows, self.kv_heads, width, self.head_dim)), v_all.new_zeros(
                (rows, self.kv_heads, width, self.head_dim))
            for r in range(rows):
                n = int(self.lengths[r])
                k[r, :, width - n:], v[r, :, width - n:] = k_all[r, :, :n], v_all[r, :, :n]
            keys.append(k)
            values.append(v)
        for r in range(rows):
            mask[r, width - int(self.lengths[r]):] = 1
        return keys, values, mask


class FusedDecoder:
    """Runs decode steps over a `BlockCache` with the weights of a loaded (int8 or fp32) Llama model."""

    def __init__(self, model: Any) -> None:
        cfg = model.config
        inner = model.model
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(cfg.num_key_value_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
        self.eps = float(cfg.rms_norm_eps)
        self.scale = self.head_dim ** -0.5
        self.embed = inner.embed_tokens.weight
        self.norm = inner.norm.weight
        self.head = _Product(model.lm_head)
        rotary = inner.rotary_emb
        self.inv_freq = rotary.inv_freq.to(torch.float32)
        self.rope_scale = float(rotary.attention_scaling)
        self.layers = [
            _Layer(layer.input_layernorm.weight, _joint(layer.self_attn.q_proj, layer.self_attn.k_proj,
                                                        layer.self_attn.v_proj),
                   _Product(layer.self_attn.o_proj), layer.post_attention_layernorm.weight,
                   _joint(layer.mlp.gate_proj, layer.mlp.up_proj), _Product(layer.mlp.down_proj))
            for layer in inner.layers
        ]
        self.intermediate = int(cfg.intermediate_size)

    def cache(self, max_rows: int) -> BlockCache:
        return BlockCache(len(self.layers), self.kv_heads, self.head_dim, self.embed.dtype, max_rows)

    def _rotary(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = positions[:, None].to(torch.float32) * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.rope_scale)[:, None, :], (emb.sin() * self.rope_scale)[:, None, :]

    def step(self, tokens: torch.Tensor, cache: BlockCache) -> torch.Tensor:
        """tokens [B] (one per active row, written at each row's next position) -> logits [B, vocab]."""
        batch = tokens.shape[0]
        positions = cache.lengths  # a row's next position is its cached length (the cache holds no padding)
        blocks = (int(positions.max()) + 1 + BLOCK - 1) // BLOCK
        cache.reserve(blocks * BLOCK)
        hq, hkv, d = self.heads, self.kv_heads, self.head_dim
        groups, hidden, qk, half = hq // hkv, hq * d, (hq + hkv) * d, d // 2
        # once per step, for every layer: where the tokens go, the mask, the rotary angles
        placement = cache.placement()
        width = blocks * BLOCK
        bias = attention_bias(positions + 1, width, hkv, groups)
        cos, sin = self._rotary(positions)
        norm = (hidden,)
        x = self.embed[tokens]
        for i, layer in enumerate(self.layers):
            qkv = layer.qkv(F.rms_norm(x, norm, layer.norm_in, self.eps))
            both = qkv[:, :qk].view(batch, hq + hkv, d)  # q and k rotate together: one set of ops, not two
            both = both * cos + torch.cat((-both[..., half:], both[..., :half]), dim=-1) * sin
            cache.write(i, both[:, hq:], qkv[:, qk:].view(batch, hkv, d), placement)
            attn = attend(both[:, :hq].reshape(batch * hkv, groups, d), cache.keys[i][:blocks],
                          cache.values[i][:blocks], bias, self.scale)
            x = x + layer.o(attn.view(batch, hidden))
            gu = layer.gate_up(F.rms_norm(x, norm, layer.norm_post, self.eps))
            x = x + layer.down(F.silu(gu[:, : self.intermediate]) * gu[:, self.intermediate:])
        cache.lengths = positions + 1
        return self.head(F.rms_norm(x, norm, self.norm, self.eps))



def attention_bias(lengths: torch.Tensor, width: int, kv_heads: int, groups: int) -> torch.Tensor:
    """[B*Hkv, G, width]: 0 over each row's first `lengths[row]` positions, -inf past them."""
    batch = lengths.shape[0]
    bias = torch.zeros((batch, width))
    bias.masked_fill_(torch.arange(width)[None, :] >= lengths[:, None], float("-inf"))
    return bias[:, None, None, :].expand(batch, kv_heads, groups, width).reshape(batch * kv_heads, groups, width)


def attend(q: torch.Tensor, keys: list[torch.Tensor], values: list[torch.Tensor], bias: torch.Tensor,
           scale: float) -> torch.Tensor:
    """q [B*Hkv, G, D] over key blocks [S, Hkv, D, BLOCK] and value blocks [S, Hkv, BLOCK, D] -> [B*Hkv, G, D];
    bias [B*Hkv, G, blocks*BLOCK] is 0 where a row attends and -inf past its end.

    Every product has one shape whatever the batch's width (one block), and the blocks' results are summed in
    order: a row's output does not depend on how many blocks its neighbours need."""
    n, d = q.shape[0], q.shape[2]
    rows = n // keys[0].shape[1]
    scores = [torch.baddbmm(bias[..., b * BLOCK:(b + 1) * BLOCK], q, blk[:rows].view(n, d, BLOCK), alpha=scale)
              for b, blk in enumerate(keys)]
    probs = torch.softmax(scores[0] if len(scores) == 1 else torch.cat(scores, dim=-1), dim=-1)
    out = torch.bmm(probs[..., :BLOCK], values[0][:rows].view(n, BLOCK, d))
    for b in range(1, len(values)):
        out = out + torch.bmm(probs[..., b * BLOCK:(b + 1) * BLOCK], values[b][:rows].view(n, BLOCK, d))
    return out
