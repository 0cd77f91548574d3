"""Find the LoRA adapters under NIM_PEFT_SOURCE and check each one before anything is loaded.

The layout is the one NIM for LLMs documents for Hugging Face adapters: one folder per adapter, named as
the API will serve it, holding `adapter_config.json` and `adapter_model.safetensors`. Everything here
reads files only (the safetensors header is JSON), so a broken adapter is reported with its file and
reason in milliseconds and never reaches the engine, and the service stays up for every good one.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from nimlab.errors import ConfigError

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
# The projections NIM for LLMs accepts in a Hugging Face LoRA (its PEFT page lists these for Llama models).
SUPPORTED_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


@dataclass(frozen=True)
class ModelShape:
    """What an adapter's tensors must fit: (in, out) features of each projection, and the layer count."""

    model_id: str
    layers: int
    projections: dict[str, tuple[int, int]] = field(hash=False)

    def accepts_base(self, base: str) -> bool:
        """A base named by hub id, by its last path part, or by a local folder named after the model."""
        want = self.model_id.rsplit("/", 1)[-1].lower()
        got = base.strip().rstrip("/").lower()
        return got == self.model_id.lower() or got.rsplit("/", 1)[-1] == want or want in got.rsplit("/", 1)[-1]


# SmolLM2-135M-Instruct: hidden 576, 9 query heads and 3 KV heads of 64, MLP 1536, 30 layers.
SMOLLM2_135M = ModelShape(
    model_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    layers=30,
    projections={"q_proj": (576, 576), "k_proj": (576, 192), "v_proj": (576, 192), "o_proj": (576, 576),
                 "gate_proj": (576, 1536), "up_proj": (576, 1536), "down_proj": (1536, 576)},
)


@dataclass(frozen=True)
class Adapter:
    """An adapter that passed every check: safe to hand to peft."""

    name: str
    path: Path
    rank: int
    alpha: float
    targets: tuple[str, ...]
    base_model: str


@dataclass(frozen=True)
class AdapterProblem:
    """Why one folder is not served, with the file to look at and what to do about it."""

    name: str
    path: Path
    message: str
    hint: str

    def render(self) -> str:
        return f"LoRA adapter '{self.name}' not loaded: {self.message}\n  next: {self.hint}"


@dataclass(frozen=True)
class Scan:
    adapters: tuple[Adapter, ...]
    problems: tuple[AdapterProblem, ...]

    def problem(self, name: str) -> AdapterProblem | None:
        return next((p for p in self.problems if p.name == name), None)


class AdapterRejected(ConfigError):
    """One adapter folder failed a check; `str()` names the file, `hint` the fix."""


def scan(source: Path, shape: ModelShape, max_rank: int, served_name: str = "") -> Scan:
    """Check every folder under `source`; good adapters and problems come back side by side, sorted by name."""
    good: list[Adapter] = []
    bad: list[AdapterProblem] = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            good.append(check(folder, shape, max_rank, served_name))
        except AdapterRejected as exc:
            bad.append(AdapterProblem(folder.name, folder, str(exc), exc.hint))
    return Scan(tuple(good), tuple(bad))


def check(folder: Path, shape: ModelShape, max_rank: int, served_name: str = "") -> Adapter:
    """One adapter folder -> Adapter, or AdapterRejected naming the file and the fix."""
    name = folder.name
    if not _NAME.match(name) or name == served_name:
        raise AdapterRejected(f"the folder name {name!r} cannot be a model name",
                      "rename the folder: letters, digits, '.', '_' or '-', and not the base model's name")
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not config_path.is_file():
        raise AdapterRejected(f"{config_path} is missing",
                      "save the adapter with peft's save_pretrained (it writes adapter_config.json)")
    if not weights_path.is_file():
        other = " (only .safetensors is read here; convert the .bin)" if (folder / "adapter_model.bin").is_file() else ""
        raise AdapterRejected(f"{weights_path} is missing{other}", "put adapter_model.safetensors beside adapter_config.json")
    config = _read_config(config_path)
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterRejected(f"{config_path}: peft_type is {config.get('peft_type')!r}, not 'LORA'",
                      "only LoRA adapters can be served")
    base = str(config.get("base_model_name_or_path") or "")
    if not shape.accepts_base(base):
        raise AdapterRejected(f"{config_path}: trained for base model {base!r}, but this NIM serves {shape.model_id!r}",
                      f"train the adapter on {shape.model_id} (an adapter only fits the base it was trained on)")
    rank = config.get("r")
    if not isinstance(rank, int) or rank < 1:
        raise AdapterRejected(f"{config_path}: r={rank!r} is not a positive integer", "set r to the rank used in training")
    if rank > max_rank:
        raise AdapterRejected(f"{config_path}: rank {rank} is above this NIM's maximum LoRA rank {max_rank}",
                      f"retrain with r <= {max_rank}, or raise NIM_MAX_LORA_RANK")
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        raise AdapterRejected(f"{config_path}: target_modules is a pattern ({targets!r})",
                      f"list the modules explicitly, from {list(SUPPORTED_TARGETS)}")
    unknown = sorted(set(targets) - set(SUPPORTED_TARGETS))
    if unknown or not targets:
        raise AdapterRejected(f"{config_path}: target_modules {unknown or targets} are not supported",
                      f"train on modules from {list(SUPPORTED_TARGETS)}")
    if config.get("modules_to_save") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise AdapterRejected(f"{config_path}: modules_to_save / rank_pattern / alpha_pattern are not supported",
                      "train a plain LoRA (one rank for every target module)")
    _check_tensors(weights_path, shape, rank, set(targets))
    return Adapter(name, folder, rank, float(config.get("lora_alpha", rank)), tuple(sorted(targets)), base)


def _read_config(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AdapterRejected(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})",
                      "fix the JSON, or save the adapter again with peft") from exc
    except OSError as exc:
        raise AdapterRejected(f"{path}: cannot be read ({exc.strerror})", "check the file's permissions") from exc
    if not isinstance(data, dict):
        raise AdapterRejected(f"{path}: the top level is not a JSON object", "save the adapter again with peft")
    return data


def safetensors_header(path: Path) -> dict[str, dict]:
    """The tensor table of a .safetensors file (8-byte little-endian length, then JSON), without torch."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise ValueError("shorter than its 8-byte header length")
            (size,) = struct.unpack("<Q", raw)
            if size > 100_000_000:
                raise ValueError(f"header length {size} is not plausible")
            header = json.loads(fh.read(size))
    except (OSError, ValueError) as exc:
        raise AdapterRejected(f"{path}: not a readable safetensors file ({exc})", "save the adapter again with peft") from exc
    header.pop("__metadata__", None)
    return header


def _check_tensors(path: Path, shape: ModelShape, rank: int, targets: set[str]) -> None:
    header = safetensors_header(path)
    if not header:
        raise AdapterRejected(f"{path}: holds no tensors", "save the adapter again after training")
    for key, meta in header.items():
        m = _KEY.search(key)
        if m is None:
            raise AdapterRejected(f"{path}: unexpected tensor {key!r}", "serve a plain LoRA on the attention/MLP projections")
        layer, module, ab = int(m.group(1)), m.group(2), m.group(3)
        if layer >= shape.layers:
            raise AdapterRejected(f"{path}: {key} targets layer {layer}, the model has {shape.layers}",
                          f"train the adapter on {shape.model_id}")
        if module not in targets:
            raise AdapterRejected(f"{path}: {key} is for {module}, not in target_modules", "save the adapter again with peft")
        fan_in, fan_out = shape.projections[module]
        want = [rank, fan_in] if ab == "A" else [fan_out, rank]
        got = list(meta.get("shape", []))
        if got != want:
            raise AdapterRejected(f"{path}: {key} has shape {got}, expected {want} for rank {rank} on {shape.model_id}",
                          "the adapter was trained with another rank or for another model: retrain it on this base")
