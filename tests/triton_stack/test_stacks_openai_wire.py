"""One set of wire checks on both real front ends (the course NIM, and Triton through the OpenAI front end):
the same OpenAI layer serves both, so the same bytes must come back. The layer alone, with a fake engine,
is tested in milliseconds in tests/openai_layer/test_openai_layer.py. (Named to run just before the Triton tests, so the
session's Triton server is not started earlier than they need it.)"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CHAT = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@dataclass
class Stack:
    name: str
    url: str  # the OpenAI base (without /v1)
    service: Any  # the running NIM, or the running tritonserver


@pytest.fixture(params=["nim", "triton"])
def stack(request) -> Stack:
    if request.param == "nim":
        nim = request.getfixturevalue("nim_optimized")
        return Stack("nim", nim.url, nim)
    frontend = request.getfixturevalue("triton_openai")
    return Stack("triton", frontend.url, request.getfixturevalue("triton_tuned"))


def sse(response: httpx.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]


def test_a_stream_ends_with_finish_usage_and_done(stack: Stack) -> None:
    body = {"model": MODEL, "messages": CHAT, "max_tokens": 6, "temperature": 0, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    r = httpx.post(stack.url + "/v1/chat/completions", json=body, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 6
    assert all(c["usage"] is None for c in chunks[:-1]) and len({c["id"] for c in chunks}) == 1
    text = httpx.post(stack.url + "/v1/completions", json={"model": MODEL, "prompt": "Paris is", "max_tokens": 3,
                                                            "temperature": 0, "stream": True}, timeout=120)
    assert sse(text)[-1] == "[DONE]" and json.loads(sse(text)[-2])["choices"][0]["finish_reason"] == "length"


def test_errors_are_the_same_openai_bodies(stack: Stack) -> None:
    url = stack.url + "/v1/chat/completions"
    missing = httpx.post(url, json={"model": "gpt-4", "messages": CHAT}, timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    bad = httpx.post(url, content=b"{", headers={"content-type": "application/json"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    for stream in (False, True):
        long = httpx.post(url, json={"model": MODEL, "messages": CHAT, "max_tokens": 100000, "stream": stream},
                          timeout=30)
        assert long.status_code == 400 and long.json()["error"]["param"] == "max_tokens", long.text


def _running(nim_url: str) -> float:
    line = next(x for x in httpx.get(nim_url + "/v1/metrics", timeout=10).text.splitlines()
                if x.startswith("num_requests_running "))
    return float(line.split()[1])


def _cancelled_lines(triton) -> list[int]:
    return [int(n) for n in re.findall(r"llm: request \w+ cancelled after (\d+) of 1500 tokens", triton.log())]


def test_a_dropped_stream_stops_its_generation(stack: Stack) -> None:
    """The client reads three events and hangs up; 1500 tokens would take minutes on this CPU. Evidence the
    generation stopped, not only the connection: the NIM's engine slot empties (num_requests_running 0);
    Triton's llm model logs the cancel and how few tokens it had made."""
    before = _cancelled_lines(stack.service) if stack.name == "triton" else []
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell a very long story."}],
            "max_tokens": 1500, "temperature": 0, "stream": True, "ignore_eos": True}
    with httpx.stream("POST", stack.url + "/v1/chat/completions", json=body, timeout=60) as r:
        lines = r.iter_lines()  # keep a reference: a collected iterator closes the response (a disconnect)
        seen = 0
        for line in lines:
            seen += line.startswith("data:")
            if seen >= 3:
                break
        if stack.name == "nim":
            deadline = time.monotonic() + 20
            while _running(stack.url) < 1:
                assert time.monotonic() < deadline, "the streaming request never showed as running"
                time.sleep(0.1)
    deadline = time.monotonic() + 30
    if stack.name == "nim":
        while _running(stack.url) != 0:
            assert time.monotonic() < deadline, "the abandoned stream still holds its engine slot"
            time.sleep(0.2)
        return
    while len(_cancelled_lines(stack.service)) == len(before):
        assert time.monotonic() < deadline, "Triton's llm never logged the cancel:\n" + stack.service.log()[-2000:]
        time.sleep(0.2)
    assert _cancelled_lines(stack.service)[-1] < 200
