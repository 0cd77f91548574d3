"""What each model of the repository does (its pipeline step), as plain Python: testable without Triton.

The model.py files stay thin (TensorRT-LLM's tensorrt_llm_bls does the same with lib/decode.py): they turn
Triton tensors into these values and these values back into tensors.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nimlab.engine.chat import encode_chat
from nimlab.errors import ConfigError, EngineError, InvalidRequestError
from nimlab.triton.wire import DownstreamError, decode_error, encode_error  # noqa: F401 - re-exported for model.py

if TYPE_CHECKING:  # the engine (and torch) load only where needed: the llm model, not pre/postprocessing
    from nimlab.engine import Delta, Engine, GenerationRequest, SamplingParams

# ---- the engine's schedule, named as TensorRT-LLM names it ------------------------------------------------
# TensorRT-LLM's `batching_strategy` parameter: "inflight_fused_batching" (continuous batching: requests join
# and leave the batch at every step) or "V1" (static batching: a batch forms when the engine is idle and runs
# until its last request ends). Neither means one request at a time: that is max_num_seqs 1.
BATCHING_STRATEGIES = ("inflight_fused_batching", "V1")


@dataclass(frozen=True)
class EngineSettings:
    batching_strategy: str = "inflight_fused_batching"
    max_num_seqs: int = 8
    kv_cache_tokens: int = 16384
    max_queue: int = 64
    max_model_len: int = 2048
    engine_threads: int = 1  # torch intra-op threads, as the course NIM's profiles set them
    cache_dir: Path | None = None
    precision: str = "fp32"  # the engine you "build": fp32, or int8 like the NIM's optimized profile
    preallocated_kv: bool = False  # the native engine (fused step, KV in blocks) or transformers' forward

    @property
    def static_batching(self) -> bool:
        return self.batching_strategy == "V1"

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> EngineSettings:
        """From the `parameters { key: ... value { string_value: ... } }` entries of llm/config.pbtxt."""
        strategy = params.get("batching_strategy", "inflight_fused_batching").strip()
        if strategy not in BATCHING_STRATEGIES:
            raise ConfigError(f"batching_strategy must be one of {', '.join(BATCHING_STRATEGIES)}, not {strategy!r}")

        def integer(key: str, default: int) -> int:
            raw = params.get(key, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise ConfigError(f"parameter {key} must be an integer, not {raw!r}") from exc
            if value < 1:
                raise ConfigError(f"parameter {key} must be at least 1, not {value}")
            return value

        from nimlab.engine.precision import PRECISIONS

        precision = params.get("precision", "fp32").strip() or "fp32"
        if precision not in PRECISIONS:
            raise ConfigError(f"parameter precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        flag = params.get("preallocated_kv", "false").strip().lower() or "false"
        if flag not in ("true", "false"):
            raise ConfigError(f"parameter preallocated_kv must be true or false, not {flag!r}")
        return cls(
            batching_strategy=strategy,
            precision=precision,
            preallocated_kv=flag == "true",
            max_num_seqs=integer("max_num_seqs", cls.max_num_seqs),
            kv_cache_tokens=integer("kv_cache_tokens", cls.kv_cache_tokens),
            max_queue=integer("max_queue_size", cls.max_queue),
            max_model_len=integer("max_model_len", cls.max_model_len),
            engine_threads=integer("engine_threads", cls.engine_threads),
            cache_dir=model_cache_dir(params.get("cache_dir", "")),
        )


def model_cache_dir(explicit: str = "") -> Path:
    """The model config's cache_dir when set, else the cache the course NIM fills (NIM_CACHE_PATH): both
    stacks share one dequantized copy."""
    from nimlab.engine.weights import default_cache

    return Path(explicit.strip()).expanduser() if explicit.strip() else default_cache()


def parameters_of(model_config: dict[str, Any]) -> dict[str, str]:
    """Flatten the JSON model config's `parameters` into {key: string_value}."""
    return {k: str(v.get("string_value", "")) for k, v in (model_config.get("parameters") or {}).items()}


# ---- tokenizer and prompts ----------------------------------------------------------------------------------
def load_tokenizer(cache_dir: Path | None = None) -> Any:
    """The model's tokenizer alone (pre/postprocessing need no weights): from the filled cache without torch
    (LightTokenizer, seconds faster per process), else AutoTokenizer from the GGUF."""
    from nimlab.engine.tokenizer import LightTokenizer
    from nimlab.engine.weights import cached_model_dir, locate_gguf

    cached = cached_model_dir(cache_dir or model_cache_dir())
    if LightTokenizer.can_load(cached):
        return LightTokenizer(cached)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoTokenizer

    gguf = locate_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def parse_messages(raw: str) -> list[dict[str, str]]:
    """`messages` arrives as JSON text: [{"role": ..., "content": ...}, ...] (content a string)."""
    try:
        messages = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"messages is not valid JSON: {exc}", param="messages") from exc
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty JSON list", param="messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content", ""), str):
            raise InvalidRequestError(f"messages[{i}] must be an object with string role and content",
                                      param=f"messages.{i}")
        role = "system" if m["role"] == "developer" else m["role"]
        out.append({"role": role, "content": m.get("content") or ""})
    return out


def prompt_ids(tokenizer: Any, text_input: str | None = None, messages: str | None = None) -> list[int]:
    """Token ids of a chat (messages, with the model's chat template) or of a plain prompt (text_input).

    The chat path is built exactly as the course NIM builds it, so both stacks see the same tokens.
    """
    if messages:
        ids = encode_chat(tokenizer, parse_messages(messages))
    elif text_input:
        ids = list(tokenizer(text_input, add_special_tokens=False)["input_ids"])
    else:
        raise InvalidRequestError("send text_input (a prompt) or messages (a JSON chat)", param="text_input")
    if not ids:
        raise InvalidRequestError("the prompt is empty", param="text_input")
    return ids


def sampling_params(max_tokens: int | None, *, temperature: float | None = None, top_p: float | None = None,
                    seed: int | None = None, ignore_eos: bool = False, stop: tuple[str, ...] = (),
                    default_max_tokens: int = 16) -> SamplingParams:
    """OpenAI meanings and defaults (temperature 1, top_p 1), as the course NIM applies them."""
    from nimlab.engine import SamplingParams

    params = SamplingParams(
        max_tokens=int(max_tokens) if max_tokens else default_max_tokens,
        temperature=1.0 if temperature is None else float(temperature),
        top_p=1.0 if top_p is None else float(top_p),
        seed=None if seed is None else int(seed),
        stop=tuple(s for s in stop if s),
        ignore_eos=bool(ignore_eos),
    )
    params.validate()
    return params


# ---- the llm model: one engine, many concurrent requests, responses streamed back ----------------------------
Sender = Callable[["Delta | None", "str | None", bool], None]
"""send(delta, error, final): the llm model turns this into a Triton response on the request's sender."""


class EngineHost:
    """Hosts the engine inside the `llm` model.

    `execute` receives a batch of requests (as many as dynamic batching gathered); each is handed to the
    engine at once and `execute` returns. The engine thread produces deltas; one responder thread sends them
    back, so the engine loop never waits on Triton's IPC. That is how a decoupled model hosts an in-flight
    engine: Triton's batch is only the hand-off; the engine batches at every decode step.
    """

    def __init__(self, engine: Engine, log: Callable[[str], None] = lambda _: None) -> None:
        self.engine = engine
        self.log = log
        self._out: queue.Queue[tuple[Sender, Delta | None, str | None, bool] | None] = queue.Queue()
        self._running: dict[str, tuple[GenerationRequest, Sender]] = {}
        self._lock = threading.Lock()
        self._responder = threading.Thread(target=self._respond, name="llm-responder", daemon=True)
        self._responder.start()

    def submit(self, ids: list[int], params: SamplingParams, send: Sender, stream: bool, key: str = "",
               is_cancelled: Callable[[], bool] | None = None) -> None:
        """Queue one request; errors before queueing are sent back as a final error response.

        `key` (the Triton request id) lets a later `cancel(key)` stop it; `is_cancelled` (the Triton request's
        own flag: a client that went away) is checked as responses go out, off the engine thread."""
        from nimlab.engine import Delta, GenerationRequest

        collected: list[int] = []

        def sink(delta: Delta) -> None:
            final = delta.finish_reason is not None
            if final and key:
                with self._lock:
                    if self._running.pop(key, None) is None:
                        return  # cancel() already sent this request's final response
            if delta.finish_reason == "cancelled" and not delta.error:
                self.log(f"llm: request {key or '(no id)'} cancelled after {delta.completion_tokens} of "
                         f"{params.max_tokens} tokens")
            if delta.error or delta.finish_reason not in (None, "stop", "length"):
                err = EngineError(delta.error or f"generation ended: {delta.finish_reason}")
                self._out.put((send, None, encode_error(err), True))
            elif stream:
                self._out.put((send, delta, None, final))
            else:
                collected.extend(delta.token_ids)
                if final:
                    whole = Delta(delta.text, tuple(collected), delta.prompt_tokens, delta.completion_tokens,
                                  delta.finish_reason)
                    self._out.put((send, whole, None, True))

        request = GenerationRequest(prompt_ids=ids, params=params, sink=sink)
        if is_cancelled is not None:
            send = self._watching(send, request, is_cancelled)
        if key:
            with self._lock:
                self._running[key] = (request, send)
        try:
            self.engine.submit(request)
        except Exception as exc:  # noqa: BLE001 - every failure becomes this request's error response
            with self._lock:
                self._running.pop(key, None)
            self._out.put((send, None, encode_error(exc), True))

    @staticmethod
    def _watching(send: Sender, request: GenerationRequest, is_cancelled: Callable[[], bool],
                  every: int = 4) -> Sender:
        """`send` that also asks Triton, every few responses, whether the client cancelled: if so the engine
        drops the request at its next step (the ask is IPC, so it runs on the responder, not the engine)."""
        count = 0

        def checked(delta: Delta | None, error: str | None, final: bool) -> None:
            nonlocal count
            count += 1
            if not final and count % every == 0 and is_cancelled():
                request.cancel()
            send(delta, error, final)

        return checked

    def cancel(self, key: str, grace: float = 5.0) -> bool:
        """Stop the request submitted under `key` (the engine frees its slot at the next step). A request
        still queued is dropped without a last delta: after `grace` seconds it gets its final response here,
        so Triton never waits on it."""
        with self._lock:
            entry = self._running.get(key)
        if entry is None:
            return False
        entry[0].cancel()

        def settle() -> None:
            with self._lock:
                left = self._running.pop(key, None)
            if left is not None:
                self.log(f"llm: request {key} cancelled while queued")
                self._out.put((left[1], None, encode_error(EngineError("cancelled")), True))

        timer = threading.Timer(grace, settle)
        timer.daemon = True
        timer.start()
        return True

    def fail(self, send: Sender, exc: BaseException) -> None:
        self._out.put((send, None, encode_error(exc), True))

    def _respond(self) -> None:
        while True:
            item = self._out.get()
            if item is None:
                return
            send, delta, error, final = item
            with contextlib.suppress(Exception):  # a client gone away must not stop the responder
                send(delta, error, final)

    def stop(self) -> None:
        self.engine.stop()
        self._out.put(None)
        self._responder.join(timeout=10)


# ---- the BLS model: text deltas from accumulated tokens --------------------------------------------------------
class StreamText:
    """Text deltas from the full decode of all tokens so far (TensorRT-LLM BLS `accumulate_tokens`).

    Decoding each chunk alone can split a multi-byte character; decoding the whole sequence and releasing
    only the new, complete part cannot. Stop sequences are cut, and a possible stop prefix is held back.
    """

    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self.stop = tuple(s for s in stop if s)
        self.emitted = 0
        self.done = False

    def update(self, full_text: str, final: bool = False) -> str:
        if self.done:
            return ""
        for s in self.stop:
            hit = full_text.find(s, max(0, self.emitted - len(s)))
            if hit >= 0:
                full_text, final = full_text[:hit], True
        safe = len(full_text.rstrip("\ufffd"))
        if not final:
            for s in self.stop:
                for k in range(min(len(s) - 1, safe), 0, -1):
                    if full_text[safe - k:safe] == s[:k]:
                        safe -= k
                        break
        self.done = final
        if safe <= self.emitted:
            return ""
        delta, self.emitted = full_text[self.emitted:safe], safe
        return delta
