"""The tuned hand-built stack on the real tritonserver: KServe v2 over HTTP and gRPC, streaming, the OpenAI
front end with the official SDK, greedy tokens equal to the course NIM's, batching seen in Triton's metrics."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from openai import OpenAI

from nimlab.triton import kserve

pytestmark = pytest.mark.slow
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module")
def triton(triton_tuned):
    return triton_tuned  # one tuned server per test session (tests/conftest.py), shared with the labs


@pytest.fixture(scope="module")
def frontend(triton_openai):
    return triton_openai


@pytest.fixture(scope="module")
def client(frontend) -> OpenAI:
    return OpenAI(base_url=frontend.url + "/v1", api_key="not-used", max_retries=0, timeout=120)


def _text(result, name="text_output") -> str:
    return result.as_numpy(name).reshape(-1)[0].decode()


def test_kserve_http_on_the_composing_models_and_the_ensemble(triton) -> None:
    http = httpclient.InferenceServerClient(triton.http_url.removeprefix("http://"))
    assert http.is_server_ready() and http.is_model_ready("ensemble")
    pre = http.infer("preprocessing", kserve.inputs(httpclient, messages=json.dumps(CHAT)))
    ids = pre.as_numpy("INPUT_ID").reshape(-1)
    assert pre.as_numpy("REQUEST_INPUT_LEN").reshape(-1)[0] == len(ids) > 10
    post = http.infer("postprocessing", kserve.inputs(httpclient, TOKENS_BATCH=[int(i) for i in ids]))
    assert "What is the capital of France?" in _text(post, "OUTPUT")
    # The ensemble holds a decoupled step, so Triton refuses it on /infer over HTTP (as it does for
    # TensorRT-LLM's ensemble) and serves it on the generate extension instead:
    with pytest.raises(Exception, match="decoupled"):
        http.infer("ensemble", kserve.inputs(httpclient, text_input="Hi", max_tokens=2))
    body = httpx.post(f"{triton.http_url}/v2/models/ensemble/generate", timeout=60,
                      json={"messages": json.dumps(CHAT), "max_tokens": 16, "temperature": 0.0}).json()
    assert "Paris" in body["text_output"] and body["finish_reason"] in ("stop", "length")
    assert len(body["output_ids"]) == body["completion_tokens"] or body["finish_reason"] == "stop"


def test_kserve_grpc_on_the_ensemble_one_response(triton) -> None:
    (result,) = [r for r in kserve.stream(triton.grpc_url, "ensemble", kserve.inputs(
        grpcclient, messages=json.dumps(CHAT), max_tokens=24, temperature=0.0)) if r.as_numpy("output_ids").size]
    assert "Paris" in _text(result)
    assert result.as_numpy("finish_reason").reshape(-1)[0] in (b"stop", b"length")
    n = result.as_numpy("output_ids").size  # the EOS token counts in usage, as in the course NIM, but has no id out
    assert n <= result.as_numpy("completion_tokens").reshape(-1)[0] <= n + 1


@pytest.mark.parametrize("model", ["ensemble", "llm_bls"])
def test_grpc_streaming_one_response_per_token(triton, model: str) -> None:
    results = kserve.stream(triton.grpc_url, model, kserve.inputs(
        grpcclient, text_input="Once upon a time", max_tokens=12, temperature=0.0, ignore_eos=True, stream=True))
    tokens = [r for r in results if r.as_numpy("output_ids").size]
    assert len(tokens) == 12 and all(r.as_numpy("output_ids").size == 1 for r in tokens)
    assert results[-1].as_numpy("finish_reason").reshape(-1)[0] == b"length"
    assert "".join(_text(r) for r in results).strip()


def test_openai_sdk_chat_stream_and_completions(client: OpenAI) -> None:
    assert [m.id for m in client.models.list().data] == [MODEL]
    chat = client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=24, temperature=0)
    assert "Paris" in chat.choices[0].message.content and chat.usage.completion_tokens > 0
    stream = client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=24, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == chat.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == chat.usage.completion_tokens
    text = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0)
    assert text.choices[0].finish_reason == "length" and text.usage.completion_tokens == 8


def test_openai_errors_have_openai_bodies(client: OpenAI, frontend) -> None:
    from openai import BadRequestError, NotFoundError

    with pytest.raises(NotFoundError, match="does not exist"):
        client.chat.completions.create(model="nope", messages=CHAT, max_tokens=4)
    with pytest.raises(BadRequestError) as err:
        client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=4000)
    assert err.value.body["param"] == "max_tokens" and "context length" in err.value.body["message"]
    bad = httpx.post(frontend.url + "/v1/chat/completions", content=b"{", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


def test_greedy_tokens_match_the_course_nim(client: OpenAI, nim_optimized, triton) -> None:
    nim = OpenAI(base_url=nim_optimized.url + "/v1", api_key="not-used", max_retries=0, timeout=120)
    for messages in (CHAT, [{"role": "system", "content": "You are terse."},
                            {"role": "user", "content": "Name three colours."}]):
        kw = dict(model=MODEL, messages=messages, max_tokens=32, temperature=0)
        ours, theirs = client.chat.completions.create(**kw), nim.chat.completions.create(**kw)
        assert ours.choices[0].message.content == theirs.choices[0].message.content
        assert ours.usage.model_dump() == theirs.usage.model_dump()
        assert ours.choices[0].finish_reason == theirs.choices[0].finish_reason
    # and token for token: the ensemble's output_ids decode to the NIM's text
    (result,) = [r for r in kserve.stream(triton.grpc_url, "ensemble", kserve.inputs(
        grpcclient, messages=json.dumps(CHAT), max_tokens=32, temperature=0.0)) if r.as_numpy("output_ids").size]
    nim_text = nim.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=32, temperature=0)
    assert _text(result) == nim_text.choices[0].message.content
    assert int(result.as_numpy("completion_tokens").reshape(-1)[0]) == nim_text.usage.completion_tokens


def test_dynamic_batching_forms_batches_under_concurrency(triton) -> None:
    before = kserve.batch_stats(triton.metrics_url)
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            kserve.stream(triton.grpc_url, "llm_bls", kserve.inputs(
                grpcclient, text_input=f"Story {n}:", max_tokens=8, temperature=0.0, ignore_eos=True, stream=True))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    llm = kserve.batch_stats(triton.metrics_url)["llm"] - before["llm"]
    assert llm.inference_count == 8
    assert llm.average_batch > 1.0, llm


def test_random_seed_and_sampling_reach_the_engine(triton) -> None:
    def sample(seed: int) -> str:
        (r,) = [x for x in kserve.stream(triton.grpc_url, "llm_bls", kserve.inputs(
            grpcclient, text_input="My favourite animal is", max_tokens=12, temperature=1.0, random_seed=seed))
            if x.as_numpy("output_ids").size]
        return _text(r)

    assert sample(7) == sample(7)
    assert len({sample(s) for s in (1, 2, 3)}) > 1
