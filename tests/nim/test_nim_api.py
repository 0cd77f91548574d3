"""The course NIM's HTTP surface, driven by the official `openai` SDK against a real server process."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import time

import httpx
import pytest
from course_profiles import GEN, OPT
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from nimlab.engine.weights import MODEL_ID as MODEL
from nimlab.lab.launch import course_nim
from nimlab.nim.client import running_profile

pytestmark = pytest.mark.slow

PUBLISHED_METADATA = {"assetInfo", "licenseInfo", "modelInfo", "repository_override", "selectedModelProfileId",
                      "version"}  # NVIDIA's published /v1/metadata fields (docs/reference/api.md)
QUESTIONS = ["What is the capital of France?", "Name a primary color.", "What is 3+4?", "Say hello in Spanish.",
             "What do bees make?", "Name a planet.", "What is water made of?", "Who wrote Hamlet?"]


def client(running) -> OpenAI:
    return OpenAI(base_url=running.url + "/v1", api_key="not-needed-locally", max_retries=0, timeout=300)


def metrics(running) -> dict[str, float]:
    text = httpx.get(running.url + "/v1/metrics", timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + (json.dumps(sample.labels, sort_keys=True) if sample.labels else "")
            out[key] = sample.value
    return out


def greedy(running, question: str, max_tokens: int = 24) -> str:
    r = client(running).chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                                 temperature=0, max_tokens=max_tokens)
    return r.choices[0].message.content


def test_chat_completion_with_usage(nim_optimized):
    r = client(nim_optimized).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is the capital of France?"}], temperature=0,
        max_tokens=32)
    assert r.object == "chat.completion" and r.model == MODEL
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 10 and 0 < r.usage.completion_tokens <= 32
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_streaming_reassembles_to_the_non_streamed_answer(nim_optimized):
    messages = [{"role": "user", "content": "Write a long story about a dragon."}]  # a reply longer than 20 tokens
    stream = client(nim_optimized).chat.completions.create(model=MODEL, messages=messages, temperature=0,
                                                           max_tokens=20, stream=True,
                                                           stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 20
    assert text == greedy(nim_optimized, messages[0]["content"], max_tokens=20)


def test_text_completions_stream_and_not(nim_optimized):
    c = client(nim_optimized)
    full = c.completions.create(model=MODEL, prompt="The three primary colors are", max_tokens=12, temperature=0)
    assert full.object == "text_completion" and full.usage.completion_tokens <= 12
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(
        model=MODEL, prompt="The three primary colors are", max_tokens=12, temperature=0, stream=True))
    assert streamed == full.choices[0].text and streamed.strip()


def test_max_tokens_stop_and_seed_behave_as_openai_documents(nim_optimized):
    c = client(nim_optimized)
    q = [{"role": "user", "content": "List the days of the week, comma separated."}]
    capped = c.chat.completions.create(model=MODEL, messages=q, temperature=0, max_tokens=5)
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens == 5
    free = c.chat.completions.create(model=MODEL, messages=q, temperature=0, max_tokens=40).choices[0].message.content
    assert "," in free
    stopped = c.chat.completions.create(model=MODEL, messages=q, temperature=0, max_tokens=40, stop=[","])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == free.split(",")[0]
    sample = lambda seed: c.chat.completions.create(  # noqa: E731
        model=MODEL, messages=[{"role": "user", "content": "Invent a name for a cat."}], temperature=1.3,
        max_tokens=16, seed=seed).choices[0].message.content
    assert sample(11) == sample(11)
    assert len({sample(11), sample(12), sample(13)}) > 1


def test_models_health_metadata_version(nim_optimized):
    c = client(nim_optimized)
    assert [m.id for m in c.models.list().data] == [MODEL]
    base = nim_optimized.url
    assert httpx.get(base + "/v1/health/live").status_code == 200
    assert httpx.get(base + "/v1/health/ready").status_code == 200
    meta = httpx.get(base + "/v1/metadata").json()
    assert set(meta) == PUBLISHED_METADATA | {"nimlab"}  # the course's extras live under one key only
    assert meta["selectedModelProfileId"] == hashlib.sha256(OPT.encode()).hexdigest()
    assert meta["nimlab"]["selectedModelProfileName"] == OPT and meta["nimlab"]["profileTags"]["cpu"]
    assert "not an NVIDIA product" in meta["nimlab"]["about"]
    found = running_profile(base)  # what every tool of the course asks: the published id, matched
    assert found is not None and found.name == OPT and found.hardware_specific
    assert httpx.get(base + "/v1/version").json()["api"] == "1.0.0"


def test_metrics_parse_and_move_after_requests(nim_optimized):
    before = metrics(nim_optimized)
    greedy(nim_optimized, "Say yes.", max_tokens=8)
    after = metrics(nim_optimized)
    for name in ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "num_request_max"):
        assert name in after
    assert after["num_request_max"] == 8
    assert after["generation_tokens_total"] > before.get("generation_tokens_total", 0)
    assert after["prompt_tokens_total"] > before.get("prompt_tokens_total", 0)
    assert after["time_to_first_token_seconds_count"] == before.get("time_to_first_token_seconds_count", 0) + 1
    assert after["e2e_request_latency_seconds_count"] >= 1
    assert after["time_per_output_token_seconds_count"] >= 1
    info = [k for k in after if k.startswith("nimlab_selected_profile_info")]
    assert info and OPT in info[0]


BAD = [
    ("malformed JSON", b'{"model": "x", "messages": [', 400, None),
    ("not an object", b'[1, 2]', 400, None),
    ("unknown model", {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
    ("empty messages", {"model": MODEL, "messages": []}, 400, "messages"),
    ("missing messages", {"model": MODEL}, 400, "messages"),
    ("max_tokens over limit", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                               "max_tokens": 100000}, 400, "max_tokens"),
    ("prompt over context", {"model": MODEL, "messages": [{"role": "user", "content": "word " * 3000}]}, 400,
     "messages"),
    ("wrong type", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, 400,
     "temperature"),
    ("bad role", {"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}, 400, None),
    ("n > 1", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "n"),
    ("negative max_tokens", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1},
     400, "max_tokens"),
]


@pytest.mark.parametrize(("what", "body", "status", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_an_openai_error_body(nim_optimized, what, body, status, param):
    kwargs = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) \
        else {"json": body}
    for stream in (False, True):
        if isinstance(body, dict):
            kwargs["json"] = {**body, "stream": stream}
        r = httpx.post(nim_optimized.url + "/v1/chat/completions", timeout=30, **kwargs)
        assert r.status_code == status, (what, r.text)
        err = r.json()["error"]
        assert err["message"] and err["type"]
        if param:
            assert err["param"] == param or (err["param"] or "").startswith(param), err
    assert httpx.get(nim_optimized.url + "/v1/nope").json()["error"]["type"] == "not_found_error"


def test_the_generic_profile_batches_in_flight_and_answers_correctly(nim_optimized, nim_generic):
    """A fallback keeps batching (as NIM 1.x's generic vLLM profiles do): num_request_max cannot catch it."""
    found = running_profile(nim_generic.url)
    assert found is not None and found.name == GEN and found.hardware_specific is False
    assert httpx.get(nim_generic.url + "/v1/metadata").json()["nimlab"]["profileForced"] is True
    assert metrics(nim_generic)["num_request_max"] == metrics(nim_optimized)["num_request_max"] == 8
    busiest = 0
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        slow = [pool.submit(greedy, nim_generic, q, 48) for q in QUESTIONS]
        while not all(f.done() for f in slow):
            busiest = max(busiest, int(metrics(nim_generic)["num_requests_running"]))
            time.sleep(0.05)
        fast = list(pool.map(lambda q: greedy(nim_optimized, q), QUESTIONS))
    assert busiest >= 2, "the generic profile must run concurrent requests in one batch"
    assert all(fast) and all(f.result() for f in slow)
    # int8 and fp32 replies may differ a little (as FP8 and BF16 do on GPUs); both know the easy facts
    assert "Paris" in fast[0] and "Paris" in slow[0].result()


def test_nvidia_client_library_works_against_the_local_base_url(nim_optimized):
    from langchain_nvidia_ai_endpoints import ChatNVIDIA

    llm = ChatNVIDIA(base_url=nim_optimized.url + "/v1", model=MODEL, temperature=0, max_completion_tokens=16)
    assert "Paris" in llm.invoke("What is the capital of France?").content


def test_overload_gets_429_and_variables_shape_the_service():
    """One extra service: the NIM 2.x-style misconfiguration NIM_PASSTHROUGH_ARGS="--max-num-seqs 1" (one request
    at a time: num_request_max 1), NIMLAB_MAX_QUEUE bounds the queue, NIM_SERVED_MODEL_NAME applies, the
    passthrough's --max-model-len outranks NIM_MAX_MODEL_LEN, and NIMLAB_NIM_EXTENSIONS=off leaves exactly the
    published metadata."""
    env = {"NIM_PASSTHROUGH_ARGS": "--max-num-seqs 1 --max-model-len=256", "NIMLAB_MAX_QUEUE": "1",
           "NIM_SERVED_MODEL_NAME": "course/smollm2", "NIM_MAX_MODEL_LEN": "1024", "NIMLAB_NIM_EXTENSIONS": "off"}
    body = {"model": "course/smollm2", "messages": [{"role": "user", "content": "Write a poem."}], "max_tokens": 60,
            "temperature": 0, "ignore_eos": True}
    with course_nim(env=env) as nim, concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert [m.id for m in client(nim).models.list().data] == ["course/smollm2"]
        assert set(httpx.get(nim.url + "/v1/metadata").json()) == PUBLISHED_METADATA
        assert running_profile(nim.url).name == OPT  # the right profile, misconfigured
        assert metrics(nim)["num_request_max"] == 1
        too_long = httpx.post(nim.url + "/v1/chat/completions", json={**body, "max_tokens": 300}, timeout=30)
        assert too_long.status_code == 400 and "maximum context length of 256 tokens" in too_long.text
        statuses = list(pool.map(lambda _: httpx.post(nim.url + "/v1/chat/completions", json=body, timeout=300),
                                 range(6)))
        codes = sorted(r.status_code for r in statuses)
        assert 200 in codes and 429 in codes, codes
        rejected = next(r for r in statuses if r.status_code == 429)
        assert rejected.json()["error"]["type"] == "rate_limit_exceeded" and rejected.headers["retry-after"]
        assert httpx.get(nim.url + "/v1/health/ready").status_code == 200
