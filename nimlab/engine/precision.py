"""Turn the fp32 model into the precision a profile asks for. Lower precision is a trade: speed for tokens.

- fp32: the reference; every other precision is validated against it (`nimlab precision validate`).
- int8: dynamic W8A8 quantization of every nn.Linear (weights int8 per output channel, activations
  quantized per batch at run time) with torch's fbgemm kernels. On an AVX2 CPU it is the course's
  counterpart of an FP8 profile on a Hopper GPU: measured about 2x faster at batch 8, and it changes
  tokens. Per-channel scales, not one per tensor: per-tensor was as fast but lost more answers (measured
  11/24 vs fp32's 16/24 on the evaluation set; per-channel 14/24).
- bf16: a plain cast. Only CPUs with native bf16 (AVX512_BF16 / AMX) run it fast; on AVX2 it is slower
  than fp32, which is why its profile requires that flag.
"""

from __future__ import annotations

import warnings
from typing import Any

from nimlab.errors import ModelLoadError

PRECISIONS = ("fp32", "bf16", "int8")


def apply_precision(model: Any, precision: str) -> Any:
    """Return the model in `precision` (in place where torch allows); the caller keeps only the result."""
    import torch

    if precision == "fp32":
        return model.to(torch.float32)
    if precision == "bf16":
        return model.to(torch.bfloat16)
    if precision == "int8":
        torch.backends.quantized.engine = "fbgemm" if "fbgemm" in torch.backends.quantized.supported_engines \
            else torch.backends.quantized.engine
        with warnings.catch_warnings():
            # torch points new projects at torchao; the eager API below is still shipped and tested in the
            # pinned torch, and needs no compiler, which a 2-core CPU course cannot afford at start-up.
            warnings.simplefilter("ignore")
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig})
    raise ModelLoadError(f"unsupported precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")
