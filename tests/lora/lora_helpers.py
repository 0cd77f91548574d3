"""Adapter folders written the way peft writes them, with one value changed at a time (for the tests)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from nimlab.lora.adapters import SMOLLM2_135M

BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"


def write_adapter(folder: Path, *, rank: int = 8, tensor_rank: int | None = None, targets=("q_proj", "v_proj"),
                  base: str = BASE, hidden: int = 576, peft_type: str = "LORA", layers: int = 2) -> Path:
    folder.mkdir(parents=True)
    config = {"peft_type": peft_type, "r": rank, "lora_alpha": 2 * rank, "target_modules": list(targets),
              "base_model_name_or_path": base, "task_type": "CAUSAL_LM"}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2))
    r = tensor_rank or rank
    tensors = {}
    for i in range(layers):
        for t in targets:
            fan_in, fan_out = SMOLLM2_135M.projections.get(t, (hidden, hidden))
            fan_in = hidden if hidden != 576 else fan_in  # a wider model's input width
            group = "mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            key = f"base_model.model.model.layers.{i}.{group}.{t}"
            tensors[f"{key}.lora_A.weight"] = torch.zeros(r, fan_in)
            tensors[f"{key}.lora_B.weight"] = torch.zeros(fan_out, r)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder
