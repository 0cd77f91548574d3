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

    def open(self, n: int) -> int:
        """Give n new rows (length 0, slots zeroed) after the live ones; returns the first new row."""
        start = self.rows
        if start + n > self.max_rows:
            raise ValueError(f"{start + n} rows do not fit a cache of {self.max_rows}")
        for keys, values in zip(self.keys, self.values, strict=True):
            for blk in (*keys, *values):
                blk[start:start + n].zero_()  # a reused slot must not keep a previous row's tokens
        self.lengths = torch.cat([self.lengths, torch.zeros(n, dtype=torch.long)])
        return start

    def write_prompt(self, layer: int, row: int, key: torch.Tensor, value: torch.Tensor) -> None:
        """A prompt's keys/values ([Hkv, T, D]) at positions 0..T-1 of `row` (blocks reserved beforehand)."""
        tokens = key.shape[1]
        for b in range((tokens + BLOCK - 1) // BLOCK):
            lo, hi = b * BLOCK, min(tokens, (b + 1) * BLOCK)
            self.keys[layer][b][row, :, :, : hi - lo] = key[:, lo:hi].transpose(-1, -2)
            self.values[layer][b][row, :, : hi - lo] = value[:, lo:hi]

    def placement(self, rows: int) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """Where the next token of rows 0..rows-1 goes, worked out once per step for every layer (not once per
        layer): (block, the rows in it, offset in the block per row)."""
        positions = self.lengths[:rows]
        first, last = int(positions.min()) // BLOCK, int(positions.max()) // BLOCK
        if first == last:
            return [(first, torch.arange(rows), positions - first * BLOCK)]
        out: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        for b in range(first, last + 1):
            rows = (positions // BLOCK == b).nonzero().flatten()
            if rows.numel():
                out.append((b, rows, positions[rows] - b * BLOCK))
        return out

    def write(self, layer: int, key: torch.Tensor, value: torch.Tensor,
              placement: list[tuple[int, torch.Tensor, torch.Tensor]]) -> None:
        """Each row's new token ([B, Hkv, D]) at its next position."""
        for b, rows, offsets in placement:
            k, v = (key, value) if len(placement) == 1 else (key[rows], value[rows])
            self.keys[layer][b][rows, :, :, offsets] = k
            self.values[layer][b][rows, :, offsets] = v

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

    def step(self, tokens: torch.Tensor, cache: BlockCache,
             prompts: list[list[int]] | tuple[()] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass over the weights for the running rows and the newcomers together (in-flight batching with
        the prompt phase inside the step, as TensorRT-LLM and vLLM run it): tokens [B] are the running rows'
        next tokens, `prompts` the newcomers' prompts, which take the rows after them. Returns the next-token
        logits of the running rows [B, vocab] and of each newcomer [n, vocab].

        A prompt costs its rows in the products, not a pass of its own over the weights (a separate prefill of
        a 30-token prompt took 1.7 decode steps of CPU, measured)."""
        batch, lengths = tokens.shape[0], [len(p) for p in prompts]
        if batch != cache.rows:
            raise ValueError(f"{batch} tokens for {cache.rows} running rows")
        positions = cache.lengths  # a row's next position is its cached length (the cache holds no padding)
        start = cache.open(len(lengths)) if lengths else batch
        running_blocks = (int(positions.max()) + 1 + BLOCK - 1) // BLOCK if batch else 0
        cache.reserve(max([running_blocks * BLOCK, *lengths]))
        hq, hkv, d = self.heads, self.kv_heads, self.head_dim
        groups, hidden, qk, half = hq // hkv, hq * d, (hq + hkv) * d, d // 2
        # once per step, for every layer: where the tokens go, the mask, the rotary angles
        placement = cache.placement(batch) if batch else []
        bias = attention_bias(positions + 1, running_blocks * BLOCK, hkv, groups) if batch else None
        ids = torch.cat([tokens, *(torch.tensor(p, dtype=torch.long) for p in prompts)])
        cos, sin = self._rotary(torch.cat([positions, *(torch.arange(n) for n in lengths)]))
        rows, norm = ids.shape[0], (hidden,)
        x = self.embed[ids]
        for i, layer in enumerate(self.layers):
            qkv = layer.qkv(F.rms_norm(x, norm, layer.norm_in, self.eps))
            both = qkv[:, :qk].view(rows, hq + hkv, d)  # q and k rotate together: one set of ops, not two
            both = both * cos + torch.cat((-both[..., half:], both[..., :half]), dim=-1) * sin
            v = qkv[:, qk:].view(rows, hkv, d)
            parts = []
            if batch:
                cache.write(i, both[:batch, hq:], v[:batch], placement)
                parts.append(attend(both[:batch, :hq].reshape(batch * hkv, groups, d), cache.keys[i][:running_blocks],
                                    cache.values[i][:running_blocks], bias, self.scale).view(batch, hidden))
            offset = batch
            for j, n in enumerate(lengths):  # a prompt attends causally over its own tokens only
                q = both[offset:offset + n, :hq].transpose(0, 1)
                k, val = both[offset:offset + n, hq:].transpose(0, 1), v[offset:offset + n].transpose(0, 1)
                cache.write_prompt(i, start + j, k, val)
                out = F.scaled_dot_product_attention(q[None], k[None], val[None], is_causal=True, scale=self.scale,
                                                     enable_gqa=groups > 1)
                parts.append(out[0].transpose(0, 1).reshape(n, hidden))
                offset += n
            x = x + layer.o(parts[0] if len(parts) == 1 else torch.cat(parts))
            gu = layer.gate_up(F.rms_norm(x, norm, layer.norm_post, self.eps))
            x = x + layer.down(F.silu(gu[:, : self.intermediate]) * gu[:, self.intermediate:])
        if lengths:  # the head reads each running row and each prompt's last token
            x = x[torch.cat([torch.arange(batch), batch - 1 + torch.tensor(lengths).cumsum(0)])]
        cache.lengths = torch.cat([positions + 1, torch.tensor(lengths, dtype=torch.long)])
        logits = self.head(F.rms_norm(x, norm, self.norm, self.eps))
        return logits[:batch], logits[batch:]


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
