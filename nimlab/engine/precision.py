"""Turn the fp32 model into the precision a profile asks for. Lower precision is a trade: speed for tokens.

- fp32: the reference; every other precision is validated against it (`nimlab precision validate`).
- int8: W8A8 on every nn.Linear (`int8.py`: weights int8 per output channel, activations int8 per token at
  run time, int32 accumulation), after SmoothQuant-style smoothing calibrated on a few chats
  (`calibration.py`). On an AVX2 CPU it is the course's counterpart of an FP8 profile on a Hopper GPU:
  about twice as fast at batch 8, it changes tokens a little, and a reply never depends on its batch
  neighbours (one scale per token, exact integer sums).
- bf16: a plain cast. Only CPUs with native bf16 (AVX512_BF16 / AMX) run it fast; on AVX2 it is slower
  than fp32 (measured 2.2x slower at batch 8), which is why its profile requires that flag.

Why smoothing: small models have a few activation channels hundreds of times larger than the rest, and
one int8 scale cannot hold both. Measured on the evaluation set, plain per-channel int8 kept
51 % of the reference's tokens (teacher-forced); moving part of each channel's range from activations
into the weights (alpha below) before quantizing keeps about 80 %, at no run-time cost (the scales are
folded into the RMSNorm and projection weights).
"""

from __future__ import annotations

from typing import Any

from nimlab.errors import ModelLoadError

PRECISIONS = ("fp32", "bf16", "int8")
SMOOTHING_ALPHA = 0.8  # share of each channel's activation range moved into the weights (SmoothQuant's alpha)


def apply_precision(model: Any, precision: str, tokenizer: Any = None) -> Any:
    """Return the model in `precision`; int8 needs the tokenizer to calibrate."""
    import torch

    if precision == "fp32":
        return model.to(torch.float32)
    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        if tokenizer is not None:
            smooth(model, calibration_ids(tokenizer), SMOOTHING_ALPHA)
        from nimlab.engine.int8 import quantize_linears, supported

        if not supported():
            raise ModelLoadError("this torch build has no CPU int8 matmul (torch._int_mm)",
                                 hint="use an fp32 profile (NIM_MODEL_PROFILE=nimlab_torch-fp32-tp1-pp1)")
        return quantize_linears(model)
    raise ModelLoadError(f"unsupported precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")


def calibration_ids(tokenizer: Any) -> list[list[int]]:
    from nimlab.engine.calibration import CALIBRATION_CHATS
    from nimlab.engine.chat import encode_chat

    return [encode_chat(tokenizer, [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                        add_generation_prompt=False)
            for question, answer in CALIBRATION_CHATS]


def smooth(model: Any, calibration: list[list[int]], alpha: float) -> None:
    """SmoothQuant for a Llama decoder, in place: per input channel j, divide activations by s_j and multiply
    the weights that read them by s_j, with s_j = max|X_j|^alpha / max|W_j|^(1 - alpha).

    Three places can absorb 1/s exactly: the input RMSNorm (before q/k/v), the post-attention RMSNorm (before
    gate/up), and up_proj's output rows (before down_proj, since SiLU(gate) * up is linear in up).
    """
    import torch

    layers = model.model.layers
    peaks: dict[tuple[int, str], torch.Tensor] = {}
    hooks = []
    for i, layer in enumerate(layers):
        for key, module in (("qkv", layer.self_attn.q_proj), ("gate_up", layer.mlp.gate_proj),
                            ("down", layer.mlp.down_proj)):
            def record(_m: Any, inputs: tuple, _out: Any, where: tuple[int, str] = (i, key)) -> None:
                x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
                peaks[where] = torch.maximum(peaks[where], x) if where in peaks else x
            hooks.append(module.register_forward_hook(record))
    try:
        with torch.inference_mode():
            for ids in calibration:
                model(input_ids=torch.tensor([ids]))
    finally:
        for h in hooks:
            h.remove()

    def scales(x_peak: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        w_peak = torch.stack([w.abs().amax(0) for w in weights]).amax(0).clamp(min=1e-5)
        return (x_peak.clamp(min=1e-5).pow(alpha) / w_peak.pow(1 - alpha)).clamp(min=1e-5)

    with torch.no_grad():
        for i, layer in enumerate(layers):
            attn, mlp = layer.self_attn, layer.mlp
            for key, norm, linears in (("qkv", layer.input_layernorm, [attn.q_proj, attn.k_proj, attn.v_proj]),
                                       ("gate_up", layer.post_attention_layernorm, [mlp.gate_proj, mlp.up_proj])):
                s = scales(peaks[(i, key)], [lin.weight for lin in linears])
                norm.weight.div_(s)
                for lin in linears:
                    lin.weight.mul_(s)
            s = scales(peaks[(i, "down")], [mlp.down_proj.weight])
            mlp.up_proj.weight.div_(s[:, None])
            mlp.down_proj.weight.mul_(s)
