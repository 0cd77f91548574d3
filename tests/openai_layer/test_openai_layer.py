"""The shared OpenAI layer (nimlab.openai) with a fake engine behind the serving seam: validation, errors,
stream endings and disconnects, in milliseconds. The same wire checks against the real course NIM and the
real Triton stack are in tests/triton_stack/test_stacks_openai_wire.py; this file tests the layer, not a model."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient

from nimlab.openai.app import build_app
from nimlab.openai.protocol import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    CompletionChunk,
    CompletionResponse,
    ServingError,
)
from nimlab.openai.serving import GenerateRequest, OpenAIServing, Output

MODEL = "course/model"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


class FakeEngine:
    """An engine client that plays back scripted outputs and records what it was asked and whether the
    consumer let it finish (a closed iterator must reach `finally` before the script ends)."""

    def __init__(self, script: list[Output] | None = None, admit_error: ServingError | None = None,
                 raise_after: ServingError | None = None) -> None:
        self.script = script if script is not None else [
            Output("Hel", 4, 1), Output("", 4, 2), Output("lo", 4, 3), Output("", 4, 4, "length")]
        self.admit_error, self.raise_after = admit_error, raise_after
        self.requests: list[GenerateRequest] = []
        self.yielded = 0
        self.closed_early = False

    def check_model(self, model: str) -> None:
        if model != MODEL:
            raise ServingError(404, f"The model `{model}` does not exist.", "invalid_request_error", "model",
                               "model_not_found")

    async def generate(self, request: GenerateRequest) -> AsyncIterator[Output]:
        self.requests.append(request)
        if self.admit_error is not None:
            raise self.admit_error
        return self._play()

    async def _play(self) -> AsyncIterator[Output]:
        finished = False
        try:
            for out in self.script:
                await asyncio.sleep(0)
                self.yielded += 1
                yield out
                if out.finish_reason is not None:
                    finished = True
                    return
            if self.raise_after is not None:
                raise self.raise_after
        finally:
            self.closed_early = not finished


def client_for(engine: FakeEngine) -> TestClient:
    async def ready() -> str | None:
        return None

    app = build_app(serving=lambda: OpenAIServing(engine), readiness=ready,
                    models=lambda: [{"id": MODEL, "object": "model"}], log=logging.getLogger("test"))
    return TestClient(app)


def events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n\n") if line]


BAD = [
    ("malformed JSON", b'{"model": "x", "messages": [', None),
    ("not an object", b"[1, 2]", None),
    ("empty messages", {"model": MODEL, "messages": []}, "messages"),
    ("missing messages", {"model": MODEL}, "messages"),
    ("wrong type", {**CHAT, "temperature": "hot"}, "temperature"),
    ("bad role", {"model": MODEL, "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
    ("n > 1", {**CHAT, "n": 2}, "n"),
    ("negative max_tokens", {**CHAT, "max_tokens": -1}, "max_tokens"),
    ("penalties", {**CHAT, "presence_penalty": 0.5}, None),
    ("five stop sequences", {**CHAT, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
]


@pytest.mark.parametrize(("what", "body", "param"), BAD, ids=[b[0] for b in BAD])
def test_invalid_requests_get_a_400_openai_body_and_never_reach_the_engine(what, body, param):
    engine = FakeEngine()
    client = client_for(engine)
    for stream in (False, True):
        kwargs = ({"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes)
                  else {"json": {**body, "stream": stream}})
        r = client.post("/v1/chat/completions", **kwargs)
        assert r.status_code == 400, (what, r.text)
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["message"], err
        assert err["param"] == param, err
    assert engine.requests == []


def test_unknown_model_and_unknown_route_are_404s_with_openai_bodies():
    client = client_for(FakeEngine())
    r = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-4"})
    assert r.status_code == 404
    assert r.json()["error"] == {"message": "The model `gpt-4` does not exist.", "type": "invalid_request_error",
                                 "param": "model", "code": "model_not_found"}
    assert client.get("/v1/nope").json()["error"]["type"] == "not_found_error"
    assert client.post("/v1/completions", json={"model": MODEL, "prompt": ""}).json()["error"]["param"] == "prompt"


def test_a_request_reaches_the_engine_as_one_plain_generate_request():
    engine = FakeEngine()
    client_for(engine).post("/v1/chat/completions", json={
        "model": MODEL, "messages": [{"role": "developer", "content": "be brief"},
                                     {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_completion_tokens": 7, "temperature": 0, "stop": "x", "seed": 3, "ignore_eos": True})
    (req,) = engine.requests
    assert req == GenerateRequest(kind="chat", model=MODEL, messages=(("developer", "be brief"), ("user", "hi")),
                                  max_tokens=7, temperature=0.0, seed=3, stop=("x",), ignore_eos=True)


def test_full_chat_and_text_responses():
    client = client_for(FakeEngine())
    chat = client.post("/v1/chat/completions", json=CHAT).json()
    assert chat["object"] == "chat.completion" and chat["id"].startswith("chatcmpl-") and chat["model"] == MODEL
    assert chat["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello"},
                                "finish_reason": "length", "logprobs": None}]
    assert chat["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    text = client.post("/v1/completions", json={"model": MODEL, "prompt": "x"}).json()
    assert text["object"] == "text_completion" and text["choices"][0]["text"] == "Hello"
    assert ChatCompletionResponse.model_validate(chat).wire() == chat
    assert CompletionResponse.model_validate(text).wire() == text


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_role_first_finish_then_usage_then_done(include_usage):
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": include_usage}}
    r = client_for(FakeEngine()).post("/v1/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    raw = events(r.text)
    assert raw[-1] == "[DONE]"
    chunks = [json.loads(e) for e in raw[:-1]]
    for c in chunks:  # every event is a ChatCompletionChunk, byte for byte as the model dumps it
        assert ChatCompletionChunk.model_validate(c).wire() == c
    assert len({(c["id"], c["created"]) for c in chunks}) == 1  # one id for the whole stream
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello"
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1 and finish[0]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "length",
                                                            "logprobs": None}
    if include_usage:  # every event carries usage: null, the last (no choices) the totals
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks) and chunks[-1] is finish[0]


def test_text_stream_ends_with_finish_and_done():
    r = client_for(FakeEngine()).post("/v1/completions", json={"model": MODEL, "prompt": "x", "stream": True})
    raw = events(r.text)
    chunks = [json.loads(e) for e in raw[:-1]]
    assert raw[-1] == "[DONE]" and all(CompletionChunk.model_validate(c).wire() == c for c in chunks)
    assert [c["choices"][0]["text"] for c in chunks] == ["Hel", "lo", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_errors_before_the_first_output_are_http_errors():
    busy = ServingError(429, "the queue is full; retry", "rate_limit_exceeded", code="queue_full")
    r = client_for(FakeEngine(admit_error=busy)).post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["code"] == "queue_full"


def test_failures_after_the_200_are_an_error_event_then_done():
    # the engine reports a failed generation (course engine) ...
    failed = FakeEngine([Output("Hi", 4, 1), Output("", 4, 1, "error", "engine crashed")])
    raw = events(client_for(failed).post("/v1/chat/completions", json={**CHAT, "stream": True}).text)
    assert json.loads(raw[-2])["error"] == {"message": "engine crashed", "type": "internal_error", "param": None,
                                            "code": None}
    assert raw[-1] == "[DONE]"
    # ... or raises a ServingError mid-stream (Triton's errors)
    broken = FakeEngine([Output("Hi", 4, 1)], raise_after=ServingError(503, "Triton went away",
                                                                       "service_unavailable"))
    raw = events(client_for(broken).post("/v1/completions", json={"model": MODEL, "prompt": "x",
                                                                  "stream": True}).text)
    assert json.loads(raw[-2])["error"]["type"] == "service_unavailable" and raw[-1] == "[DONE]"
    # without streaming the same failure is a 500 / 503 body
    r = client_for(FakeEngine([Output("", 4, 0, "error", "engine crashed")])).post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 500 and r.json()["error"]["message"] == "engine crashed"


def test_a_consumer_that_goes_away_closes_the_engine_iterator():
    """What a disconnect does: Starlette stops iterating the SSE generator and closes it; the serving closes
    the engine client's iterator, whose `finally` is where both stacks cancel the generation."""
    engine = FakeEngine([Output(str(i), 4, i + 1) for i in range(100)] + [Output("", 4, 100, "length")])
    serving = OpenAIServing(engine)

    async def drop_after_two() -> None:
        outputs = await engine.generate(GenerateRequest("chat", MODEL))
        stream = serving.stream("chat", MODEL, outputs, include_usage=False)
        assert (await anext(stream)).startswith("data: ")
        await anext(stream)
        await stream.aclose()

    asyncio.run(drop_after_two())
    assert engine.closed_early and engine.yielded < 5
