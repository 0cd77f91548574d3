"""Turn the fp32 model into the precision a profile asks for. Lower precision is a trade: speed for tokens.

- fp32: the reference; every other precision is validated against it (`nimlab precision validate`).
- int8: dynamic W8A8 quantization of every nn.Linear (weights int8 per tensor, activations quantized per
  batch at run time) with torch's fbgemm kernels. On an AVX2 CPU it is the course's counterpart of an FP8
  profile on a Hopper GPU: measured faster, and it changes a few tokens.
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
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    raise ModelLoadError(f"unsupported precision {precision!r}", hint=f"use one of {', '.join(PRECISIONS)}")
