"""The model cache: a filled cache loads the same model fast; a damaged one is refused with what to do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nimlab.engine.weights import cache_filled, cached_model_dir, default_cache, load_model
from nimlab.errors import ModelLoadError


@pytest.fixture(scope="module")
def filled_cache() -> Path:
    """The session's shared cache (filled here if no service has filled it yet)."""
    cache = default_cache()
    load_model("fp32", cache_dir=cache)
    assert cache_filled(cache)
    return cache


def test_cached_model_has_tied_weights_and_answers(filled_cache: Path):
    loaded = load_model("fp32", cache_dir=filled_cache)
    model = loaded.model
    assert loaded.source.startswith("cache ")
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    ids = loaded.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in loaded.tokenizer.decode(out[0, ids.shape[1]:])


def test_a_cache_missing_a_tensor_is_refused_with_the_folder_to_delete(filled_cache: Path, tmp_path: Path):
    source = cached_model_dir(filled_cache)
    broken = cached_model_dir(tmp_path)
    shutil.copytree(source, broken)
    state = load_file(str(broken / "model.safetensors"))
    del state["model.layers.3.mlp.up_proj.weight"]
    save_file(state, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ModelLoadError) as err:
        load_model("fp32", cache_dir=tmp_path)
    assert "model.layers.3.mlp.up_proj.weight" in str(err.value)
    assert f"delete {broken}" in err.value.hint


def test_default_cache_follows_nim_cache_path(tmp_path: Path):
    assert default_cache({"NIM_CACHE_PATH": str(tmp_path)}) == tmp_path
    assert default_cache({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "nimlab" / "nim"


def test_the_workspace_is_a_standard_hugging_face_folder(filled_cache: Path):
    """NIM 2.x's comparison, one command away: the peers load our workspace as it is (`transformers serve
    --continuous-batching FOLDER`, `vllm serve FOLDER`), so it must look like any model folder on the Hub."""
    import json

    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    folder = cached_model_dir(filled_cache)
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config
    assert config["tie_word_embeddings"] is True and (folder / "generation_config.json").is_file()
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys  # tied: stored once, as on the Hub
    model, info = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True)  # plain transformers
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    assert torch.equal(model.lm_head.weight, load_model("fp32", cache_dir=filled_cache).model.lm_head.weight)


def test_the_int8_engine_is_built_once_and_loads_as_built(filled_cache: Path, tmp_path: Path):
    """Like a prebuilt TensorRT-LLM engine: calibration and quantization happen once; later starts load the
    result. The loaded engine must compute exactly what the freshly built one does; a damaged file is rebuilt."""
    from nimlab.engine.int8 import Int8Linear
    from nimlab.engine.weights import engine_dir

    cache = tmp_path / "cache"
    shutil.copytree(cached_model_dir(filled_cache), cached_model_dir(cache))
    built = load_model("int8", cache_dir=cache).model
    assert (engine_dir(cache, "int8") / "engine.safetensors").is_file()
    loaded = load_model("int8", cache_dir=cache).model
    assert isinstance(loaded.lm_head, Int8Linear) and not any(isinstance(m, torch.nn.Linear) for m in loaded.modules())
    ids = torch.tensor([[1, 9690, 198, 2683, 359, 253, 5356, 314]])
    with torch.no_grad():
        assert torch.equal(built(input_ids=ids).logits, loaded(input_ids=ids).logits)
    (engine_dir(cache, "int8") / "engine.safetensors").write_bytes(b"not an engine")
    rebuilt = load_model("int8", cache_dir=cache).model
    with torch.no_grad():
        assert torch.equal(built(input_ids=ids).logits, rebuilt(input_ids=ids).logits)
