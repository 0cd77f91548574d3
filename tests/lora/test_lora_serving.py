"""LoRA on the course NIM, end to end: a real adapter trained here with peft, served beside the base model.

What a learner relies on: the adapter changes replies as trained, the base model's replies stay exactly
what a NIM without adapters gives, both kinds of request share one batch, broken adapters are refused with
their reason while the service stays up, and NIM_PEFT_REFRESH_INTERVAL picks up new and removed folders.
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import time

import httpx
import openai
import pytest
from lora_helpers import write_adapter

from nimlab.engine.weights import MODEL_ID as BASE
from nimlab.lab.launch import course_nim
from nimlab.lora.tasks import ACME

pytestmark = pytest.mark.slow
LORA_PROFILE = "nimlab_native-cpu-fp32-tp1-pp1-throughput-lora"


@pytest.fixture(scope="module")
def peft_source(tmp_path_factory, acme_adapter):
    """One good adapter and two broken ones (too high a rank; another model's), as a learner might mount."""
    source = tmp_path_factory.mktemp("loras")
    shutil.copytree(acme_adapter.path, source / "acme")
    write_adapter(source / "too-big", rank=64)
    write_adapter(source / "for-llama", base="meta-llama/Llama-3.1-8B-Instruct")
    return source


@pytest.fixture(scope="module")
def nim_lora(peft_source):
    with course_nim(env={"NIM_PEFT_SOURCE": str(peft_source), "NIM_PEFT_REFRESH_INTERVAL": "1"}) as running:
        yield running


def client(running) -> openai.OpenAI:
    return openai.OpenAI(base_url=running.url + "/v1", api_key="unused", max_retries=0, timeout=300)


def ask(running, model: str, question: str) -> str:
    r = client(running).chat.completions.create(model=model, messages=[{"role": "user", "content": question}],
                                                temperature=0, max_tokens=32)
    assert r.model == model
    return r.choices[0].message.content


def test_startup_selects_a_lora_profile_and_reports_each_refused_adapter(nim_lora):
    log = nim_lora.log()
    assert "Running NIM with LoRA enabled. Only looking for compatible profiles that support LoRA." in log
    assert "Selected profile: " in log and f"({LORA_PROFILE})" in log.split("Selected profile: ")[1].splitlines()[0]
    assert "LoRA adapter 'acme' loaded from" in log
    assert "LoRA adapter 'too-big' not loaded:" in log and "NIM_MAX_LORA_RANK" in log
    assert "LoRA adapter 'for-llama' not loaded:" in log and "trained for base model" in log


def test_models_lists_the_base_and_each_good_adapter(nim_lora, peft_source):
    models = {m.id: m for m in client(nim_lora).models.list().data}
    assert set(models) == {BASE, "acme"}
    raw = httpx.get(nim_lora.url + "/v1/models", timeout=10).json()["data"]
    acme = next(m for m in raw if m["id"] == "acme")
    assert acme["parent"] == BASE and acme["root"] == str(peft_source / "acme")


def test_the_adapter_changes_replies_as_trained_and_the_base_is_unaffected(nim_lora, nim_generic):
    # all at once, as lab 6 asks them: a reply does not depend on its batch neighbours (the next test proves it
    # here, tests/engine for the engine), and batching makes the 18 requests ~3x quicker than one by one (38.8 -> 12.5 s)
    jobs = [(nim_lora, "acme"), (nim_lora, BASE), (nim_generic, BASE)]  # generic: fp32 like the LoRA profile
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [[pool.submit(ask, running, model, q) for q in ACME.held_out] for running, model in jobs]
        tuned, base, plain = ([f.result() for f in row] for row in futures)
    assert sum(map(ACME.follows, tuned)) >= len(tuned) - 1, tuned  # the style carries to unseen questions
    assert not any(map(ACME.follows, base)), base
    assert base == plain  # a LoRA-enabled NIM answers base requests exactly as one without adapters, same precision


def test_base_and_adapter_requests_share_a_batch_without_mixing(nim_lora):
    questions = list(ACME.held_out[:4])
    alone = {(m, q): ask(nim_lora, m, q) for q in questions for m in ("acme", BASE)}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = dict(zip(alone, pool.map(lambda mq: ask(nim_lora, *mq), alone), strict=True))
    assert together == alone
    metrics = httpx.get(nim_lora.url + "/v1/metrics", timeout=10).text
    assert 'nimlab_selected_profile_info{' in metrics and LORA_PROFILE in metrics


def test_streaming_names_the_adapter(nim_lora):
    stream = client(nim_lora).chat.completions.create(
        model="acme", messages=[{"role": "user", "content": ACME.held_out[0]}], temperature=0, max_tokens=24,
        stream=True)
    chunks = list(stream)
    assert {c.model for c in chunks} == {"acme"}
    assert ACME.follows("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))


def test_a_refused_adapter_gets_a_404_with_its_reason_and_the_service_stays_up(nim_lora):
    with pytest.raises(openai.NotFoundError) as info:
        ask(nim_lora, "too-big", "hello")
    body = info.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model"
    assert "rank 64 is above this NIM's maximum LoRA rank 32" in body["message"] and "Next:" in body["message"]
    with pytest.raises(openai.NotFoundError) as unknown:
        ask(nim_lora, "no-such-adapter", "hello")
    assert "`acme`" in unknown.value.body["message"]  # the 404 lists what is served
    assert httpx.get(nim_lora.url + "/v1/health/ready", timeout=10).status_code == 200
    assert ACME.follows(ask(nim_lora, "acme", ACME.held_out[1]))


def test_refresh_loads_new_folders_and_unlists_removed_ones(nim_lora, peft_source):
    shutil.copytree(peft_source / "acme", peft_source / "acme-copy")
    try:
        _wait_for(lambda: "acme-copy" in _ids(nim_lora))
        assert ACME.follows(ask(nim_lora, "acme-copy", ACME.held_out[2]))
    finally:
        shutil.rmtree(peft_source / "acme-copy")
    _wait_for(lambda: "acme-copy" not in _ids(nim_lora))
    with pytest.raises(openai.NotFoundError):
        ask(nim_lora, "acme-copy", "hello")


def test_a_broken_folder_is_picked_up_once_fixed(nim_lora, peft_source):
    late = peft_source / "late"
    late.mkdir()
    (late / "adapter_config.json").write_text("{}")  # a copy still in progress
    try:
        _wait_for(lambda: "LoRA adapter 'late' not loaded" in nim_lora.log())
        shutil.rmtree(late)
        shutil.copytree(peft_source / "acme", late)
        _wait_for(lambda: "late" in _ids(nim_lora))
        assert ACME.follows(ask(nim_lora, "late", ACME.held_out[3]))
    finally:
        shutil.rmtree(late, ignore_errors=True)


def test_a_missing_peft_source_stops_startup_with_the_variable_named(tmp_path):
    from nimlab.errors import ServiceError

    with pytest.raises(ServiceError) as info, course_nim(env={"NIM_PEFT_SOURCE": str(tmp_path / "absent")},
                                                          timeout=60):
        pass
    assert f"NIM_PEFT_SOURCE={tmp_path / 'absent'} is not a directory" in str(info.value)


def _ids(running) -> set[str]:
    return {m["id"] for m in httpx.get(running.url + "/v1/models", timeout=10).json()["data"]}


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the refresh did not happen in time"
        time.sleep(0.5)


def test_training_records_its_settings_and_is_reused(acme_adapter, tmp_path):
    from nimlab.lora.settings import TrainConfig
    from nimlab.lora.train import RECORD_FILE, train

    record = json.loads((acme_adapter.path / RECORD_FILE).read_text())
    assert record["fingerprint"] == TrainConfig().fingerprint() and record["base_model"] == BASE
    losses = record["losses"]
    assert len(losses) == TrainConfig().steps and losses[-1] < losses[0] / 4
    again = train(TrainConfig(), acme_adapter.path)
    assert again.reused and again.losses == losses
    assert not (acme_adapter.path / "README.md").exists()
