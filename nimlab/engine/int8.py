"""W8A8 linear layers with per-token activation scales: the course's CPU counterpart of an FP8 engine.

Weights are quantized once, per output channel, to int8. Activations are quantized at run time **per row**
(one scale per token), multiplied in int8 with int32 accumulation (`torch._int_mm`, oneDNN/AVX2 on x86),
then scaled back to fp32.

Why per row: torch's stock dynamic quantization (`quantize_dynamic`) computes one activation scale over
the whole input, i.e. over every request in the batch, so a request's reply changed with its batch
neighbours (measured: replies at concurrency 1 and inside a batch of 8 agreed on 1 prompt in 12). With one
scale per row and exact integer accumulation, a row's result depends on that row alone. It is also faster
here: the int8 matmul at batch 8 measured 57-64 ms per decode step against 77 ms for `quantize_dynamic`
and 123 ms for fp32 (one thread, 30 layers + the 49k-row output head; /tmp prototype, 2026-12-01).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

QMAX = 127  # symmetric int8: -127..127, so the product of two values never overflows int32 partial sums here


class SharedInput:
    """Projections that read the same activation (q/k/v; gate/up) run as ONE int8 product per step.

    The siblings' weights are laid side by side once (`share_inputs`); the first sibling called on an activation
    quantizes it, multiplies it by the joint weight and keeps the result; the others return their columns.
    Integer sums are exact and the scaling is per element, so each sibling's output is bit for bit what its
    own product gives, with a third of the small-op overhead that dominates a 135M model's decode step."""

    __slots__ = ("bias", "out", "packed", "qweight_t", "weight_scale", "x")

    def __init__(self, members: list[Int8Linear]) -> None:
        self.x: torch.Tensor | None = None
        self.out: torch.Tensor | None = None
        self.qweight_t: torch.Tensor | None = torch.cat([m.qweight_t for m in members], dim=1).contiguous()
        self.packed: torch.Tensor | None = None
        self.weight_scale = torch.cat([m.weight_scale for m in members])
        biases = [m.bias for m in members]
        self.bias = None if all(b is None for b in biases) else torch.cat(
            [b if b is not None else m.weight_scale.new_zeros(m.out_features) for b, m in zip(biases, members, strict=True)])
        start = 0
        for m in members:
            m.share, m.columns = self, (start, start + m.out_features)
            m.qweight_t = self.qweight_t[:, start:start + m.out_features]  # a view: the weights are held once
            start += m.out_features


_ONE = torch.tensor(1.0)
_ZERO_POINT = torch.tensor(128, dtype=torch.int32)


def _w8a8(x: torch.Tensor, qweight_t: torch.Tensor | None, weight_scale: torch.Tensor,
          bias: torch.Tensor | None, packed: torch.Tensor | None = None) -> torch.Tensor:
    """rows of x (fp32) -> int8 with one scale per row -> int32 product -> fp32, scaled back per row and column.

    With a packed weight (`pack`) the product runs in oneDNN on weights laid out once for this CPU; the
    activation goes in as uint8 with zero point 128, which gives the same exact integer sums."""
    rows = x.reshape(-1, x.shape[-1])
    if rows.dtype != torch.float32:
        rows = rows.to(torch.float32)
    scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8).div_(QMAX)
    # |rows / scale| <= 127 by construction, so no clamp: every op saved runs 121 times a decode step
    if packed is not None:
        q = torch.round(rows / scale).add_(128).to(torch.uint8)
        acc = torch.ops.onednn.qlinear_pointwise.tensor(
            q, _ONE, _ZERO_POINT, packed, *_unit_scales(weight_scale.shape[0]), None, 1.0, 0, torch.float32,
            "none", [], "")
        out = acc.mul_(scale).mul_(weight_scale)
    else:
        assert qweight_t is not None
        q = torch.round(rows / scale).to(torch.int8)
        out = torch.mul(torch._int_mm(q, qweight_t), scale * weight_scale)  # int32 * fp32 -> fp32, one pass
    if bias is not None:
        out.add_(bias)
    return out


@functools.cache
def _unit_scales(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight scales of one and zero points of zero for n output channels: the packed product returns the
    bare integer sums, and the row and column scales are applied after it, as on the `_int_mm` path."""
    return torch.ones(n), torch.zeros(n, dtype=torch.int32)


class Int8Linear(torch.nn.Module):
    """Drop-in for nn.Linear: int8 weight (per output channel), int8 activations (per token)."""

    def __init__(self, qweight_t: torch.Tensor, weight_scale: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = qweight_t.shape
        # [in, out] contiguous: the layout _int_mm's second operand wants
        self.register_buffer("qweight_t", qweight_t.contiguous())
        self.register_buffer("weight_scale", weight_scale)
        self.register_buffer("bias", bias)
        self.share: SharedInput | None = None
        self.columns = (0, self.out_features)
        self.packed: torch.Tensor | None = None

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> Int8Linear:
        weight = linear.weight.detach().to(torch.float32)
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / QMAX
        qweight = torch.round(weight / scale[:, None]).clamp(-QMAX, QMAX).to(torch.int8)
        bias = linear.bias.detach().to(torch.float32) if linear.bias is not None else None
        return cls(qweight.t(), scale, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        share = self.share
        if share is None:
            out = _w8a8(x, self.qweight_t, self.weight_scale, self.bias, self.packed)
        else:
            if share.x is not x:  # the first sibling on this activation runs the joint product
                share.out = _w8a8(x, share.qweight_t, share.weight_scale, share.bias, share.packed)
                share.x = x
            assert share.out is not None
            out = share.out[:, self.columns[0]:self.columns[1]]
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, w8a8 per-token"


def quantize_linears(module: Any) -> Any:
    """Replace every nn.Linear under `module` (the output head included) with Int8Linear, in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, Int8Linear.from_linear(child))
        else:
            quantize_linears(child)
    return share_inputs(module)


SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


def share_inputs(model: Any) -> Any:
    """Run each attention block's q/k/v and each MLP's gate/up as one int8 product (SharedInput says why)."""
    for module in model.modules():
        for group in SIBLINGS:
            members = [getattr(module, n, None) for n in group]
            if all(isinstance(m, Int8Linear) for m in members):
                SharedInput(members)  # type: ignore[arg-type]
    return model


def engine_state(model: Any) -> dict[str, torch.Tensor]:
    """What a built int8 engine adds to the fp32 weights: every Int8Linear's buffers and the RMSNorm weights
    that smoothing rescaled. Saved once, it is the course's "prebuilt engine" (see weights.py)."""
    state: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, Int8Linear):
            if module.qweight_t is None:
                raise ValueError("the engine is packed for this CPU; save its state before `pack`")
            state[f"{name}.qweight_t"] = module.qweight_t
            state[f"{name}.weight_scale"] = module.weight_scale
            if module.bias is not None:
                state[f"{name}.bias"] = module.bias
        elif name.endswith("layernorm"):
            state[f"{name}.weight"] = module.weight.detach()
    return state


def load_engine_state(model: Any, state: dict[str, torch.Tensor]) -> Any:
    """Turn the fp32 model into the saved int8 engine, in place: no calibration, no quantization at start."""
    linears = {key.rsplit(".", 1)[0] for key in state if key.endswith(".qweight_t")}
    for name in sorted(linears):
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if not isinstance(getattr(parent, child), torch.nn.Linear):
            raise KeyError(f"{name} is not a Linear in this model")
        setattr(parent, child, Int8Linear(state[f"{name}.qweight_t"], state[f"{name}.weight_scale"],
                                          state.get(f"{name}.bias")))
    with torch.no_grad():
        for key, value in state.items():
            if key.endswith("layernorm.weight"):
                model.get_parameter(key).copy_(value)
    if any(isinstance(m, torch.nn.Linear) for m in model.modules()):
        raise KeyError("the saved engine does not cover every Linear of the model")
    return share_inputs(model)


def pack(model: Any, min_rows: int = 8192) -> Any:
    """Lay the int8 weights with at least `min_rows` output rows (by default only the 49k-row output head)
    out once for this CPU's oneDNN kernels and drop their plain copy: the last step of building the engine,
    as TensorRT-LLM builds for one GPU. Measured, one thread, 8 rows per product: the output head 2.8 ms
    instead of 7.0 ms with `torch._int_mm`, a decode step 5-7 % less CPU; packing every product as well
    gained nothing measurable (the small ones pay oneDNN's per-call cost). Where oneDNN's int8 kernels are
    missing, the model stays on `torch._int_mm`."""
    if not _onednn_int8():
        return model
    owners: list[Any] = []
    for module in model.modules():
        if isinstance(module, Int8Linear):
            owner = module.share if module.share is not None else module
            if all(owner is not o for o in owners):
                owners.append(owner)
    for owner in owners:
        weight = owner.qweight_t
        if weight is None or weight.shape[1] < min_rows:
            continue  # packed already, or small enough that oneDNN's per-call cost outweighs its layout
        owner.packed = torch.ops.onednn.qlinear_prepack(weight.t().contiguous(), [8, weight.shape[0]])
        owner.qweight_t = None
    for module in model.modules():
        if isinstance(module, Int8Linear) and module.share is not None and module.share.packed is not None:
            module.qweight_t = None  # the views into the joint weight would keep it alive
    return model


def _onednn_int8() -> bool:
    """True when this torch build has oneDNN's prepacked int8 linear and it gives the exact integer sums."""
    try:
        w = torch.randint(-127, 128, (24, 32), dtype=torch.int8)
        x = torch.randint(-127, 128, (17, 32), dtype=torch.int8)
        packed = torch.ops.onednn.qlinear_prepack(w, [8, 32])
        got = torch.ops.onednn.qlinear_pointwise.tensor(
            (x.to(torch.int16) + 128).to(torch.uint8), _ONE, _ZERO_POINT, packed, *_unit_scales(24), None, 1.0, 0,
            torch.float32, "none", [], "")
        return bool(torch.equal(got, torch._int_mm(x, w.t().contiguous()).to(torch.float32)))
    except (RuntimeError, NotImplementedError, AttributeError):
        return False


def supported() -> bool:
    """True when this torch build runs the int8 matmul on CPU (probed once, on a tiny product)."""
    try:
        torch._int_mm(torch.ones((17, 32), dtype=torch.int8), torch.ones((32, 32), dtype=torch.int8))
    except (RuntimeError, NotImplementedError):
        return False
    return True
