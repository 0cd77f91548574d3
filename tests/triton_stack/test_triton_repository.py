"""The model repository as data: rendering presets, validating configs (real schema + semantic traps), and the
plain logic the model.py files delegate to. No server here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nimlab.errors import ConfigError, InvalidRequestError, OverloadedError
from nimlab.triton import render as r
from nimlab.triton.steps import EngineSettings, StreamText
from nimlab.triton.validate import errors, validate_repository
from nimlab.triton.wire import DownstreamError, decode_error, encode_error


@pytest.fixture
def tuned(tmp_path: Path) -> Path:
    return r.render(tmp_path / "repo", "tuned")


def _cfg(repo: Path, model: str) -> Path:
    return repo / model / "config.pbtxt"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# ---- rendering ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", sorted(r.PRESETS))
def test_every_preset_renders_a_clean_repository(tmp_path: Path, preset: str) -> None:
    repo = r.render(tmp_path / preset, preset)
    assert sorted(p.name for p in repo.iterdir()) == sorted(r.MODELS)
    for model in r.MODELS:
        assert "${" not in _cfg(repo, model).read_text()
        assert (repo / model / "1" / "model.py").is_file() or model == "ensemble"
        assert (repo / model / "1").is_dir()
    assert validate_repository(repo) == []


def test_tuned_and_untuned_differ_in_the_knobs_the_lesson_turns(tmp_path: Path) -> None:
    tuned = _cfg(r.render(tmp_path / "t", "tuned"), "llm").read_text()
    untuned = _cfg(r.render(tmp_path / "u", "untuned"), "llm").read_text()
    assert "dynamic_batching { max_queue_delay_microseconds: 10000 }" in tuned
    assert "\ndynamic_batching" not in untuned and "# dynamic_batching is off for llm" in untuned
    assert 'string_value: "inflight_fused_batching"' in tuned and 'string_value: "V1"' in untuned
    assert "max_batch_size: 8" in tuned and "max_batch_size: 1" in untuned


def test_overrides_turn_one_knob_and_typos_fail(tmp_path: Path) -> None:
    repo = r.render(tmp_path / "repo", "tuned", {"llm_instance_count": "2", "llm_max_queue_delay_microseconds": "500"})
    text = _cfg(repo, "llm").read_text()
    assert "count: 2" in text and "max_queue_delay_microseconds: 500" in text
    with pytest.raises(ConfigError, match="unknown knob 'llm_instance_cont'"):
        r.render(tmp_path / "x", "tuned", {"llm_instance_cont": "2"})
    with pytest.raises(ConfigError, match="unknown preset"):
        r.render(tmp_path / "x", "fast")


def test_a_placeholder_without_a_value_names_file_line_column() -> None:
    with pytest.raises(ConfigError, match=r"f\.pbtxt:2:17: no value for placeholder \$\{nope\}"):
        r.fill("a: 1\nmax_batch_size: ${nope}\n", {}, "f.pbtxt")


# ---- validation: the real schema ----------------------------------------------------------------------------
@pytest.mark.parametrize("old,new,expect", [
    ("max_batch_size: 8", "max_batch_size: 8\nmax_batch_sise: 8", r"llm/config\.pbtxt:\d+:1: error: .*max_batch_sise"),
    ("kind: KIND_CPU", "kind: KIND_TPU", r"llm/config\.pbtxt:\d+:\d+: error: .*KIND_TPU"),
    ("max_batch_size: 8", "max_batch_size: eight", r"llm/config\.pbtxt:\d+:\d+: error: .*eight"),
])
def test_schema_errors_carry_file_line_column(tuned: Path, old: str, new: str, expect: str) -> None:
    _edit(_cfg(tuned, "llm"), old, new)
    problems = errors(validate_repository(tuned))
    assert len(problems) == 1
    assert pytest.importorskip("re").search(expect, str(problems[0])), str(problems[0])


def test_unknown_field_points_at_its_line(tuned: Path) -> None:
    path = _cfg(tuned, "postprocessing")
    lines = path.read_text().splitlines()
    lines.insert(4, "instance_count: 3")
    path.write_text("\n".join(lines) + "\n")
    (problem,) = errors(validate_repository(tuned))
    assert (problem.path, problem.line, problem.column) == (path, 5, 1)
    assert "instance_count" in problem.message


def test_unrendered_template_is_reported_not_parsed() -> None:
    problems = validate_repository(r.TEMPLATE_DIR)
    assert problems and all("unfilled placeholder" in p.message for p in problems)


# ---- validation: the silent traps ---------------------------------------------------------------------------
def test_output_returned_by_model_py_but_not_declared(tuned: Path) -> None:
    _edit(tuned / "postprocessing" / "1" / "model.py", 'pb_utils.Tensor("OUTPUT", out)', 'pb_utils.Tensor("TEXT", out)')
    (problem,) = errors(validate_repository(tuned))
    assert problem.path.name == "model.py" and problem.line > 1
    assert "returns output 'TEXT' that config.pbtxt does not declare" in problem.message


def test_max_batch_size_zero_with_dynamic_batching(tuned: Path) -> None:
    path = _cfg(tuned, "preprocessing")
    _edit(path, "max_batch_size: 8", "max_batch_size: 0")
    found = [p for p in errors(validate_repository(tuned)) if "max_batch_size: 0 with dynamic_batching" in p.message]
    assert len(found) == 1 and found[0].path == path
    assert path.read_text().splitlines()[found[0].line - 1].startswith("dynamic_batching")


def test_streaming_input_on_a_model_that_is_not_decoupled(tuned: Path) -> None:
    _edit(_cfg(tuned, "llm"), "decoupled: True", "decoupled: False")
    messages = [p.message for p in errors(validate_repository(tuned))]
    assert any("input 'streaming' asks for streaming but the model is not decoupled" in m for m in messages)
    assert any("uses a response sender but config.pbtxt is not decoupled" in m for m in messages)


def test_ragged_input_without_allow_ragged_batch_is_a_warning(tuned: Path) -> None:
    _edit(_cfg(tuned, "llm"), "dims: [ -1 ]  allow_ragged_batch: true },", "dims: [ -1 ] },")
    (problem,) = validate_repository(tuned)
    assert problem.severity == "warning" and "input 'input_ids'" in problem.message


def test_ensemble_maps_are_checked_against_the_steps(tuned: Path) -> None:
    _edit(_cfg(tuned, "ensemble"), 'key: "TOKENS_BATCH"', 'key: "TOKENS"')
    (problem,) = errors(validate_repository(tuned))
    assert "step 'postprocessing' has no input 'TOKENS'" in problem.message and problem.line > 1


def test_cli_validate_exit_status(tuned: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "nimlab", "triton", "validate", str(tuned)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    _edit(_cfg(tuned, "llm"), "kind: KIND_CPU", "kind: KIND_TPU")
    bad = subprocess.run([sys.executable, "-m", "nimlab", "triton", "validate", str(tuned)], capture_output=True, text=True)
    assert bad.returncode == 1 and "llm/config.pbtxt:" in bad.stdout and "1 error(s)" in bad.stdout


# ---- the logic model.py delegates to -------------------------------------------------------------------------
def test_stream_text_holds_back_split_characters_and_stop_prefixes() -> None:
    st = StreamText(stop=("END",))
    assert st.update("Hello") == "Hello"
    assert st.update("Hello wor") == " wor"
    assert st.update("Hello world \ufffd") == "ld "  # half a character: wait for the rest
    assert st.update("Hello world é E") == "é "  # "E" may start "END"
    assert st.update("Hello world é EN") == ""
    assert st.update("Hello world é END and more") == ""  # cut at the stop sequence, and done
    assert st.done and st.emitted == len("Hello world é ")
    final = StreamText()
    assert final.update("abc\ufffd", final=True) == "abc"


def test_errors_cross_the_triton_boundary_with_type_and_param() -> None:
    msg = encode_error(InvalidRequestError("too long", param="max_tokens"))
    assert decode_error(msg) == ("invalid_request_error", "max_tokens", "too long")
    assert decode_error("in ensemble 'ensemble', " + msg) == ("invalid_request_error", "max_tokens", "too long")
    assert decode_error(encode_error(OverloadedError("full", hint="later")))[0] == "rate_limit_exceeded"
    assert encode_error(DownstreamError(msg)) == msg
    assert decode_error("Triton says no") == ("internal_error", None, "Triton says no")


def test_engine_settings_mirror_trtllm_batching_strategy() -> None:
    v1 = EngineSettings.from_parameters({"batching_strategy": "V1", "max_num_seqs": "8"})
    assert v1.static_batching and v1.max_num_seqs == 8  # V1 is static batching, not one request at a time
    inflight = EngineSettings.from_parameters({"max_num_seqs": "4", "precision": "int8"})
    assert not inflight.static_batching and inflight.max_num_seqs == 4 and inflight.precision == "int8"
    with pytest.raises(ConfigError, match="precision must be one of"):
        EngineSettings.from_parameters({"precision": "fp8"})
    with pytest.raises(ConfigError, match="batching_strategy must be one of"):
        EngineSettings.from_parameters({"batching_strategy": "inflight"})
    with pytest.raises(ConfigError, match="kv_cache_tokens must be an integer"):
        EngineSettings.from_parameters({"kv_cache_tokens": "lots"})


class _ScriptedEngine:
    """Stands in for the engine at EngineHost's seam only (the real one runs in tests/triton_stack/test_stacks_openai_wire.py):
    each submitted request gets one token per `step()` until it is cancelled or reaches max_tokens."""

    def __init__(self) -> None:
        self.requests: list = []

    def submit(self, request) -> None:
        self.requests.append(request)

    def step(self) -> None:
        from nimlab.engine import Delta

        for req in list(self.requests):
            made = getattr(req, "made", 0)
            if req.cancelled:
                req.sink(Delta("", (), len(req.prompt_ids), made, "cancelled"))
            else:
                req.made = made + 1
                done = req.made >= req.params.max_tokens
                req.sink(Delta("x", (made,), len(req.prompt_ids), req.made, "length" if done else None))
                if not done:
                    continue
            self.requests.remove(req)

    def stop(self) -> None:
        pass


def _host():
    import threading

    from nimlab.triton.steps import EngineHost, sampling_params

    engine, logged, sent = _ScriptedEngine(), [], []
    done = threading.Event()

    def send(delta, error, final):
        sent.append((delta, error, final))
        if final:
            done.set()

    return EngineHost(engine, log=logged.append), engine, sampling_params(100), send, sent, logged, done


def test_cancel_by_request_id_stops_the_generation_and_logs_how_far_it_got() -> None:
    host, engine, params, send, sent, logged, done = _host()
    host.submit([1, 2], params, send, stream=True, key="abc")
    for _ in range(3):
        engine.step()
    assert host.cancel("abc") and not host.cancel("nope")
    engine.step()
    assert done.wait(5) and engine.requests == []
    assert sent[-1][1] is not None and "cancelled" in sent[-1][1] and sent[-1][2]
    assert logged == ["llm: request abc cancelled after 3 of 100 tokens"]
    host.stop()


def test_a_cancelled_triton_request_is_noticed_as_responses_go_out() -> None:
    host, engine, params, send, sent, logged, done = _host()
    gone = []
    host.submit([1], params, send, stream=True, key="k", is_cancelled=lambda: bool(gone))
    engine.step()
    gone.append(True)  # the client went away
    for _ in range(12):
        engine.step()
        if done.wait(0.05):
            break
    assert done.is_set() and len(logged) == 1 and int(logged[0].split(" after ")[1].split()[0]) < 12
    host.stop()


def test_a_request_cancelled_while_queued_still_gets_its_final_response_once() -> None:
    host, engine, params, send, sent, logged, done = _host()
    host.submit([1], params, send, stream=True, key="q")
    engine.requests.clear()  # the engine drops a queued request without a last delta
    assert host.cancel("q", grace=0.05)
    assert done.wait(5) and [s[2] for s in sent] == [True]
    assert logged == ["llm: request q cancelled while queued"]
    host.stop()
