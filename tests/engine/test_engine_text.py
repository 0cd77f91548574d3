"""Sampling and detokenization rules, on the real tokenizer (no model weights needed)."""

from __future__ import annotations

import pytest
import torch

from nimlab.engine.detok import IncrementalText
from nimlab.engine.sampling import Sampler, SamplingParams
from nimlab.errors import InvalidRequestError


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from nimlab.engine.weights import locate_gguf

    gguf = locate_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def test_greedy_takes_the_argmax():
    logits = torch.tensor([0.1, 3.0, -1.0, 2.9])
    assert Sampler(SamplingParams(max_tokens=1, temperature=0)).choose(logits) == 1


def test_same_seed_same_samples_different_seed_differs():
    logits = torch.randn(1000, generator=torch.Generator().manual_seed(0))

    def draws(seed: int) -> list[int]:
        sampler = Sampler(SamplingParams(max_tokens=1, temperature=1.5, seed=seed))
        return [sampler.choose(logits) for _ in range(20)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


def test_top_p_keeps_only_the_nucleus():
    # token 0 holds ~88% of the mass: with top_p=0.5 nothing else may ever be drawn
    logits = torch.tensor([4.0, 2.0, 0.0, 0.0, 0.0])
    sampler = Sampler(SamplingParams(max_tokens=1, temperature=1.0, top_p=0.5, seed=1))
    assert {sampler.choose(logits) for _ in range(200)} == {0}
    wide = Sampler(SamplingParams(max_tokens=1, temperature=1.0, top_p=1.0, seed=1))
    assert len({wide.choose(logits) for _ in range(200)}) > 1


@pytest.mark.parametrize(
    ("params", "param"),
    [
        (SamplingParams(max_tokens=0), "max_tokens"),
        (SamplingParams(max_tokens=5, temperature=2.5), "temperature"),
        (SamplingParams(max_tokens=5, top_p=0.0), "top_p"),
        (SamplingParams(max_tokens=5, stop=("a", "b", "c", "d", "e")), "stop"),
        (SamplingParams(max_tokens=5, stop=("",)), "stop"),
    ],
)
def test_invalid_params_name_the_parameter(params, param):
    with pytest.raises(InvalidRequestError) as err:
        params.validate()
    assert err.value.param == param


def test_stop_sequence_is_cut_and_never_leaks(tokenizer):
    ids = tokenizer("Paris is lovely. END of story", add_special_tokens=False)["input_ids"]
    text = IncrementalText(tokenizer, stop=(" END",))
    released = ""
    for t in ids:
        released += text.push(t)
        assert " END" not in released
        if text.stopped:
            break
    assert text.stopped
    assert released + text.flush() == "Paris is lovely."


def test_deltas_reassemble_the_full_text(tokenizer):
    sentence = "Héllo wörld — naïve café ☕ 123"
    ids = tokenizer(sentence, add_special_tokens=False)["input_ids"]
    text = IncrementalText(tokenizer, stop=())
    parts = [text.push(t) for t in ids]
    assert all("\ufffd" not in p for p in parts)
    assert "".join(parts) + text.flush() == sentence
