"""Train a LoRA adapter for SmolLM2-135M-Instruct on CPU with peft, in the folder layout NIM serves.

Small by design: rank 8 on the attention projections (0.9 M trainable parameters, 0.7 % of the model),
20 steps of 4 examples on a built-in task, a couple of minutes on two quiet cores. The result is a real peft adapter
(`adapter_config.json` + `adapter_model.safetensors`) that `nimlab lora check` and the course NIM accept,
and that any peft user could load. Training is seeded, and a folder already trained with the same settings
is reused (its `nimlab_training.json` records them), so re-running a lab cell costs nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nimlab.engine.chat import encode_question
from nimlab.engine.weights import MODEL_ID, default_cache, load_model
from nimlab.lora.adapters import CONFIG_FILE, WEIGHTS_FILE
from nimlab.lora.settings import TrainConfig

RECORD_FILE = "nimlab_training.json"


@dataclass
class TrainResult:
    path: Path
    config: TrainConfig
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    trainable_params: int = 0
    total_params: int = 0
    reused: bool = False

    def summary(self) -> str:
        if self.reused:
            return f"reused the adapter at {self.path} (same settings, trained in {self.seconds:.0f} s)"
        return (f"trained {self.path.name}: {self.config.steps} steps in {self.seconds:.0f} s, loss "
                f"{self.losses[0]:.2f} -> {self.losses[-1]:.2f}, {self.trainable_params:,} trainable parameters "
                f"({100 * self.trainable_params / max(1, self.total_params):.2f} % of the model)")


Progress = Callable[[int, int, float, float], None]  # step, steps, loss, elapsed seconds


def train(config: TrainConfig, out: Path, *, cache_dir: Path | None = None, progress: Progress | None = None,
          reuse: bool = True) -> TrainResult:
    """Train and write the adapter folder `out` atomically (a half-written folder is never left behind)."""
    task = config.checked_task()
    if reuse:
        previous = _previous(out, config)
        if previous is not None:
            return previous
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    loaded = load_model("fp32", cache_dir=cache_dir or default_cache())
    tok = loaded.tokenizer
    pad = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
    examples = [_example(tok, q, a) for q, a in task.examples]
    model = get_peft_model(loaded.model, LoraConfig(
        r=config.rank, lora_alpha=config.alpha, lora_dropout=0.0, target_modules=list(config.targets),
        task_type="CAUSAL_LM"))
    trainable, total = model.get_nb_trainable_parameters()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    order = torch.Generator().manual_seed(config.seed)
    result = TrainResult(out, config, trainable_params=int(trainable), total_params=int(total))
    model.train()
    start = time.monotonic()
    for step in range(1, config.steps + 1):
        picks = torch.randperm(len(examples), generator=order)[: config.batch_size].tolist()
        batch = [examples[i] for i in picks]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (x, y) in enumerate(batch):
            ids[row, : len(x)], labels[row, : len(y)], mask[row, : len(x)] = torch.tensor(x), torch.tensor(y), 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        result.losses.append(round(loss.item(), 4))
        if progress is not None:
            progress(step, config.steps, result.losses[-1], time.monotonic() - start)
    result.seconds = time.monotonic() - start
    model.peft_config["default"].base_model_name_or_path = MODEL_ID
    _write(model, out, result)
    return result


def _example(tok: Any, question: str, answer: str) -> tuple[list[int], list[int]]:
    """Prompt tokens exactly as the API builds them; loss only on the reply (and its end-of-turn token)."""
    prompt = encode_question(tok, question)
    reply = list(tok(answer + tok.eos_token, add_special_tokens=False)["input_ids"])
    return prompt + reply, [-100] * len(prompt) + reply


def _write(model: Any, out: Path, result: TrainResult) -> None:
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    with warnings.catch_warnings():
        # peft looks the base model up on the Hub to see whether the vocabulary changed; offline it cannot,
        # and LoRA on the attention projections never changes it
        warnings.filterwarnings("ignore", message="Could not find a config file")
        model.save_pretrained(str(tmp))
    (tmp / "README.md").unlink(missing_ok=True)  # peft's model-card stub; NIM reads only the two files
    record = {"fingerprint": result.config.fingerprint(), "config": asdict(result.config), "losses": result.losses,
              "seconds": round(result.seconds, 1), "trainable_params": result.trainable_params,
              "total_params": result.total_params, "base_model": MODEL_ID}
    (tmp / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)


def _previous(out: Path, config: TrainConfig) -> TrainResult | None:
    try:
        record = json.loads((out / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != config.fingerprint() or not (out / CONFIG_FILE).is_file() \
            or not (out / WEIGHTS_FILE).is_file():
        return None
    return TrainResult(out, config, list(record.get("losses", [])), float(record.get("seconds", 0)),
                       int(record.get("trainable_params", 0)), int(record.get("total_params", 0)), reused=True)
