"""The engine: one thread that owns the model and runs an iteration-level (in-flight) batching loop.

Each loop iteration admits waiting requests while a sequence slot and KV-pool room exist, then runs one step
over every active sequence. The native engine (`preallocated_kv`, fused.py) puts the newcomers' prompts inside
that step; the generic one prefills them in a pass of their own first. Finished sequences leave the batch at
once, so a short request never waits for a long one.

`static_batching=True` is TensorRT-LLM's `V1` batching strategy: a batch is admitted only when the engine
is empty and runs until its last sequence finishes (no admission mid-batch). `max_num_seqs=1` runs one
request at a time, which is what NIM 2.x's `--max-num-seqs 1` passthrough does by mistake.

A row's tokens never depend on its batch neighbours on the int8 path (per-token scales, exact integer
sums); `tests/engine/test_engine_schedules.py` holds every precision to identical greedy replies at
concurrency 1 and inside a batch of 8.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from nimlab.engine import fused
from nimlab.engine.detok import IncrementalText
from nimlab.engine.lora import AdapterSet
from nimlab.engine.sampling import Sampler, SamplingParams
from nimlab.engine.weights import LoadedModel
from nimlab.errors import EngineError, InvalidRequestError, OverloadedError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delta:
    """One step of a request's output, as the engine hands it out (possibly empty text)."""

    text: str
    token_ids: tuple[int, ...]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None  # "stop" | "length" | "cancelled" | "error"
    error: str | None = None


@dataclass(frozen=True)
class Completion:
    """A whole request's output, for in-process callers that want the end result, not the stream."""

    token_ids: tuple[int, ...]
    text: str
    finish_reason: str
    error: str | None = None


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    params: SamplingParams
    sink: Callable[[Delta], None]
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cancelled: bool = False
    arrival: float = field(default_factory=time.monotonic)
    adapter: str | None = None  # LoRA adapter name; None = the base model

    def cancel(self) -> None:
        """Safe from any thread: the engine drops the request and frees its slot at its next step."""
        self.cancelled = True


@dataclass(frozen=True)
class EngineStats:
    running: int
    waiting: int
    max_num_seqs: int
    kv_used_tokens: int
    kv_capacity_tokens: int

    @property
    def kv_usage(self) -> float:
        return self.kv_used_tokens / self.kv_capacity_tokens if self.kv_capacity_tokens else 0.0


class _PreallocatedLayer(DynamicLayer):
    """One layer's KV cache with room to grow: a decode step writes its token in place instead of copying the
    whole cache (a plain DynamicLayer concatenates at every step, and rebuilding it from tensors copies once
    more). Reallocated, with headroom, only when the batch changes or the room runs out."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, headroom: int = 64) -> None:
        super().__init__()
        self._k = self._room(keys, keys.shape[-2] + headroom)
        self._v = self._room(values, values.shape[-2] + headroom)
        self._len = keys.shape[-2]
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self.keys, self.values = self._k[:, :, :self._len], self._v[:, :, :self._len]

    @staticmethod
    def _room(t: torch.Tensor, capacity: int) -> torch.Tensor:
        buf = t.new_empty((*t.shape[:2], capacity, t.shape[-1]))
        buf[:, :, :t.shape[-2]] = t
        return buf

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        end = self._len + key_states.shape[-2]
        if end > self._k.shape[-2]:
            self._k = self._room(self._k[:, :, :self._len], 2 * end)
            self._v = self._room(self._v[:, :, :self._len], 2 * end)
        self._k[:, :, self._len:end] = key_states
        self._v[:, :, self._len:end] = value_states
        self._len = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        return self.keys, self.values


class _Seq:
    """Engine-side state of one admitted request."""

    def __init__(self, req: GenerationRequest, tokenizer, eos: frozenset[int]) -> None:
        self.req = req
        self.sampler = Sampler(req.params)
        self.text = IncrementalText(tokenizer, req.params.stop)
        self.eos = eos
        self.generated: list[int] = []
        self.pending: int | None = None  # sampled token not yet written into the KV cache
        self.finish: str | None = None
        self.reserved = len(req.prompt_ids) + req.params.max_tokens
        self.adapter: str | None = None  # peft's internal name, fixed at admission

    @property
    def cached_tokens(self) -> int:
        return len(self.req.prompt_ids) + max(0, len(self.generated) - 1)

    def accept(self, token: int, max_context: int) -> None:
        """Take the token sampled for this sequence, emit its text and decide whether it is done."""
        params = self.req.params
        self.generated.append(token)
        self.pending = token
        if token in self.eos and not params.ignore_eos:
            self.finish = "stop"
            self._emit(self.text.flush(), (), final=True)
            return
        delta = self.text.push(token)
        if self.text.stopped:
            self.finish = "stop"
        elif len(self.generated) >= params.max_tokens or len(self.req.prompt_ids) + len(self.generated) >= max_context:
            self.finish = "length"
            delta += self.text.flush()
        self._emit(delta, (token,), final=self.finish is not None)

    def _emit(self, text: str, ids: tuple[int, ...], final: bool) -> None:
        self.req.sink(
            Delta(
                text=text,
                token_ids=ids,
                prompt_tokens=len(self.req.prompt_ids),
                completion_tokens=len(self.generated),
                finish_reason=self.finish if final else None,
            )
        )

    def abort(self, reason: str, error: str | None = None) -> None:
        self.finish = reason
        self.req.sink(
            Delta("", (), len(self.req.prompt_ids), len(self.generated), finish_reason=reason, error=error)
        )


class Engine:
    """Owns the model on one thread; `submit` is safe from any thread."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_num_seqs: int,
        kv_capacity_tokens: int,
        max_queue: int = 64,
        max_model_len: int | None = None,
        static_batching: bool = False,
        preallocated_kv: bool = False,
        fused_decode: bool | None = None,
    ) -> None:
        if max_num_seqs < 1:
            raise EngineError("max_num_seqs must be at least 1")
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.max_num_seqs = max_num_seqs
        self.static_batching = static_batching
        # the model's forward with its KV cache written in place (a native engine once it serves adapters); the
        # generic engine's cache concatenates at every step
        self.preallocated_kv = preallocated_kv
        self._layers: list[_PreallocatedLayer] | None = None
        # the native engine's decode step (fused.py): slots instead of a padded cache; default with preallocated_kv
        if fused_decode is None:
            fused_decode = preallocated_kv and fused.supports(self.model)
        self._fused = fused.FusedDecoder(self.model) if fused_decode else None
        self._slots = self._fused.cache(max_num_seqs) if self._fused is not None else None
        self.kv_capacity = kv_capacity_tokens
        self.max_queue = max_queue
        self.max_model_len = min(max_model_len or loaded.max_context, loaded.max_context)
        self.pad_id = int(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0)
        self._waiting: collections.deque[GenerationRequest] = collections.deque()
        self._cv = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        # batch state: one row per active sequence, left-padded to a common cached length
        self._seqs: list[_Seq] = []
        self._keys: list[torch.Tensor] = []
        self._values: list[torch.Tensor] = []
        self._mask: torch.Tensor | None = None  # [B, T] 1 = real token
        self._next_pos: torch.Tensor | None = None  # [B] position id of the pending token
        self._kv_reserved = 0
        self.steps = 0  # decode iterations run (for tests and metrics)
        self.max_batch_seen = 0
        self.adapters = AdapterSet(self.model)
        # held for one loop step, and by adapter loads: peft changes the model's modules in place
        self._step_lock = threading.Lock()

    # ---- public API -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="nimlab-engine", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def add_adapter(self, name: str, path: Path) -> None:
        """Load a checked LoRA adapter between two steps; requests may name it as soon as this returns."""
        with self._step_lock, torch.inference_mode(False):
            self._unfuse()  # peft wraps the linears the fused step reads: the model's own forward takes over
            self.adapters.add(name, path)

    def remove_adapter(self, name: str) -> None:
        with self._step_lock:
            self.adapters.remove(name)

    def check(self, prompt_len: int, params: SamplingParams) -> None:
        """Reject, before queueing, what this engine can never serve (a clear 400, not a stuck request)."""
        params.validate()
        if prompt_len == 0:
            raise InvalidRequestError("the prompt is empty", param="messages")
        if prompt_len >= self.max_model_len:
            raise InvalidRequestError(
                f"This model's maximum context length is {self.max_model_len} tokens. "
                f"However, your prompt has {prompt_len} tokens.",
                param="messages",
            )
        if prompt_len + params.max_tokens > self.max_model_len:
            raise InvalidRequestError(
                f"max_tokens={params.max_tokens} plus the prompt's {prompt_len} tokens exceeds the maximum "
                f"context length of {self.max_model_len} tokens; lower max_tokens to at most "
                f"{self.max_model_len - prompt_len}",
                param="max_tokens",
            )
        if prompt_len + params.max_tokens > self.kv_capacity:
            raise InvalidRequestError(
                f"the request needs {prompt_len + params.max_tokens} KV-cache tokens but the pool holds "
                f"{self.kv_capacity}",
                param="max_tokens",
            )

    def submit(self, req: GenerationRequest) -> None:
        self.check(len(req.prompt_ids), req.params)
        if req.adapter is not None and self.adapters.internal_name(req.adapter) is None:
            raise InvalidRequestError(f"the LoRA adapter {req.adapter!r} is not loaded", param="model")
        with self._cv:
            if self._stop:
                raise EngineError("the engine is shutting down", hint="retry against a running service")
            if len(self._waiting) >= self.max_queue:
                raise OverloadedError(
                    f"the request queue is full ({self.max_queue} waiting)", hint="retry after a short back-off"
                )
            self._waiting.append(req)
            self._cv.notify()

    def generate(self, prompt_ids: list[int], params: SamplingParams, timeout: float = 600,
                 adapter: str | None = None) -> Iterator[Delta]:
        """Blocking helper for in-process callers (benchmark, Triton backend): yields deltas until done."""
        out: queue.Queue[Delta] = queue.Queue()
        req = GenerationRequest(prompt_ids=list(prompt_ids), params=params, sink=out.put, adapter=adapter)
        self.submit(req)
        deadline = time.monotonic() + timeout
        try:
            while True:
                delta = out.get(timeout=max(0.01, deadline - time.monotonic()))
                yield delta
                if delta.finish_reason is not None:
                    return
        except queue.Empty as exc:
            raise EngineError(f"no output within {timeout:.0f} s") from exc
        finally:
            req.cancel()

    def generate_many(self, prompts: list[list[int]], params: SamplingParams,
                      adapters: list[str | None] | None = None, timeout: float = 900) -> list[Completion]:
        """Submit every prompt at once (the schedule batches them as it can) and wait for all of them."""
        adapters = adapters or [None] * len(prompts)
        parts: list[list[Delta]] = [[] for _ in prompts]
        done = threading.Semaphore(0)

        def sink(i: int) -> Callable[[Delta], None]:
            def put(delta: Delta) -> None:
                parts[i].append(delta)
                if delta.finish_reason is not None:
                    done.release()
            return put

        requests = [GenerationRequest(prompt_ids=list(p), params=params, sink=sink(i), adapter=a)
                    for i, (p, a) in enumerate(zip(prompts, adapters, strict=True))]
        for req in requests:
            self.submit(req)
        deadline = time.monotonic() + timeout
        try:
            for _ in requests:
                if not done.acquire(timeout=max(0.01, deadline - time.monotonic())):
                    raise EngineError(f"{len(requests)} requests did not finish within {timeout:.0f} s")
        finally:
            for req in requests:
                req.cancel()
        out = []
        for deltas in parts:
            last = deltas[-1]
            out.append(Completion(tuple(t for d in deltas for t in d.token_ids), "".join(d.text for d in deltas),
                                  last.finish_reason or "", last.error))
        return out

    def stats(self) -> EngineStats:
        with self._cv:
            waiting = len(self._waiting)
        seqs = list(self._seqs)
        return EngineStats(
            running=len(seqs),
            waiting=waiting,
            max_num_seqs=self.max_num_seqs,
            kv_used_tokens=sum(s.cached_tokens for s in seqs),
            kv_capacity_tokens=self.kv_capacity,
        )

    # ---- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self._cv:
                self._drop_cancelled_waiting()
                while not self._stop and not self._waiting and not self._seqs:
                    self._cv.wait(timeout=0.5)
                    self._drop_cancelled_waiting()
                if self._stop:
                    break
                newcomers = self._admit()
            try:
                with self._step_lock, torch.inference_mode():
                    self._drop(lambda s: s.req.cancelled, reason="cancelled")
                    if self._fused is not None:
                        if newcomers or self._seqs:
                            self._fused_step(newcomers)
                    else:
                        if newcomers:
                            self._prefill(newcomers)
                        if self._seqs:
                            self._decode_step()
            except Exception as exc:  # one bad step must not kill the service: fail the batch, go on
                log.exception("engine step failed")
                for seq in newcomers:
                    if seq not in self._seqs:
                        self._kv_reserved -= seq.reserved
                for seq in self._seqs + newcomers:
                    if seq.finish is None:
                        seq.abort("error", error=f"engine error: {exc}")
                self._reset_batch()
        for seq in self._seqs:
            seq.abort("cancelled", error="the service is shutting down")
        for req in self._waiting:
            req.sink(Delta("", (), len(req.prompt_ids), 0, "cancelled", "the service is shutting down"))

    def _drop_cancelled_waiting(self) -> None:
        if any(r.cancelled for r in self._waiting):
            self._waiting = collections.deque(r for r in self._waiting if not r.cancelled)

    def _admit(self) -> list[_Seq]:
        new: list[_Seq] = []
        if self.static_batching and self._seqs:
            return new  # V1: the running batch finishes before the next one is admitted
        while self._waiting and len(self._seqs) + len(new) < self.max_num_seqs:
            need = len(self._waiting[0].prompt_ids) + self._waiting[0].params.max_tokens
            if self._kv_reserved + need > self.kv_capacity:
                break  # wait for a running sequence to free its reservation
            req = self._waiting.popleft()
            self._kv_reserved += need
            seq = _Seq(req, self.tokenizer, self.loaded.eos_token_ids)
            if req.adapter is not None:
                seq.adapter = self.adapters.internal_name(req.adapter)
                if seq.adapter is None:  # unlisted while it waited: fail this request, not the batch
                    self._kv_reserved -= need
                    seq.abort("error", error=f"the LoRA adapter {req.adapter!r} was unloaded")
                    continue
            new.append(seq)
        return new

    def _prefill(self, new: list[_Seq]) -> None:
        lengths = [len(s.req.prompt_ids) for s in new]
        width = max(lengths)
        ids = torch.full((len(new), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(new), width), dtype=torch.long)
        for i, s in enumerate(new):
            ids[i, width - lengths[i]:] = torch.tensor(s.req.prompt_ids)
            mask[i, width - lengths[i]:] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.adapters.model(
            input_ids=ids, attention_mask=mask, position_ids=pos,
            cache=DynamicCache(), use_cache=True, logits_to_keep=1,
            **self.adapters.forward_kwargs([s.adapter for s in new]),
        )
        keys = [layer.keys for layer in out.cache.layers]
        values = [layer.values for layer in out.cache.layers]
        self._merge(new, keys, values, mask, torch.tensor(lengths))
        logits = out.logits[:, -1, :]
        for i, s in enumerate(new):
            s.accept(s.sampler.choose(logits[i]), self.max_model_len)
        self._drop(lambda s: s.finish is not None)

    def _fused_step(self, new: list[_Seq]) -> None:
        """The native engine's step: running rows decode and newcomers' prompts go through in one pass."""
        assert self._fused is not None and self._slots is not None
        tokens = torch.tensor([s.pending for s in self._seqs], dtype=torch.long)
        running, first = self._fused.step(tokens, self._slots, [s.req.prompt_ids for s in new])
        self._seqs.extend(new)
        self._after_step(torch.cat([running, first]) if new else running)

    def _decode_step(self) -> None:
        assert self._mask is not None and self._next_pos is not None
        ids = torch.tensor([[s.pending] for s in self._seqs], dtype=torch.long)
        mask = torch.cat([self._mask, torch.ones((len(self._seqs), 1), dtype=torch.long)], dim=1)
        if self.preallocated_kv:
            if self._layers is None:
                self._layers = [_PreallocatedLayer(k, v) for k, v in zip(self._keys, self._values, strict=True)]
            cache = DynamicCache()
            cache.layers = list(self._layers)
        else:
            cache = DynamicCache(ddp_cache_data=list(zip(self._keys, self._values, strict=True)))
        out = self.adapters.model(
            input_ids=ids, attention_mask=mask, position_ids=self._next_pos[:, None],
            cache=cache, use_cache=True, **self.adapters.forward_kwargs([s.adapter for s in self._seqs]),
        )
        self._keys = [layer.keys for layer in out.cache.layers]
        self._values = [layer.values for layer in out.cache.layers]
        self._mask = mask
        self._next_pos = self._next_pos + 1
        self._after_step(out.logits[:, -1, :])

    def _after_step(self, logits: torch.Tensor) -> None:
        self.steps += 1
        self.max_batch_seen = max(self.max_batch_seen, len(self._seqs))
        for i, s in enumerate(self._seqs):
            s.accept(s.sampler.choose(logits[i]), self.max_model_len)
        self._drop(lambda s: s.finish is not None)

    # ---- batch bookkeeping ------------------------------------------------------------------------
    def _merge(self, new: list[_Seq], keys, values, mask: torch.Tensor, lengths: torch.Tensor) -> None:
        self._layers = None  # the batch changes shape: the next step lays out fresh buffers
        if not self._seqs:
            self._seqs, self._keys, self._values, self._mask, self._next_pos = list(new), keys, values, mask, lengths
            return
        assert self._mask is not None and self._next_pos is not None
        width = max(self._mask.shape[1], mask.shape[1])

        def left_pad(t: torch.Tensor, dim_len: int) -> torch.Tensor:
            extra = width - dim_len
            if extra == 0:
                return t
            return F.pad(t, (0, 0, extra, 0)) if t.dim() == 4 else F.pad(t, (extra, 0))

        old_w, new_w = self._mask.shape[1], mask.shape[1]
        self._keys = [torch.cat([left_pad(a, old_w), left_pad(b, new_w)]) for a, b in zip(self._keys, keys, strict=True)]
        self._values = [
            torch.cat([left_pad(a, old_w), left_pad(b, new_w)]) for a, b in zip(self._values, values, strict=True)
        ]
        self._mask = torch.cat([left_pad(self._mask, old_w), left_pad(mask, new_w)])
        self._next_pos = torch.cat([self._next_pos, lengths])
        self._seqs.extend(new)

    def _drop(self, predicate: Callable[[_Seq], bool], reason: str | None = None) -> None:
        gone = [i for i, s in enumerate(self._seqs) if predicate(s)]
        if not gone:
            return
        for i in gone:
            seq = self._seqs[i]
            if reason is not None and seq.finish is None:
                seq.abort(reason)
            self._kv_reserved -= seq.reserved
        keep = [i for i in range(len(self._seqs)) if i not in set(gone)]
        self._layers = None
        if self._slots is not None:
            self._slots.keep(keep)
            self._seqs = [self._seqs[i] for i in keep]
            return
        if not keep:
            self._reset_batch(release=False)
            return
        index = torch.tensor(keep)
        assert self._mask is not None and self._next_pos is not None
        mask = self._mask.index_select(0, index)
        first = int((mask.sum(0) > 0).nonzero()[0])  # columns that are padding for every row can go
        self._mask = mask[:, first:]
        self._keys = [k.index_select(0, index)[:, :, first:] for k in self._keys]
        self._values = [v.index_select(0, index)[:, :, first:] for v in self._values]
        self._next_pos = self._next_pos.index_select(0, index)
        self._seqs = [self._seqs[i] for i in keep]

    def _reset_batch(self, release: bool = True) -> None:
        if release:
            self._kv_reserved -= sum(s.reserved for s in self._seqs)
        self._seqs, self._keys, self._values, self._mask, self._next_pos = [], [], [], None, None
        self._layers = None
        if self._slots is not None:
            self._slots.keep([])

    def _unfuse(self) -> None:
        """Hand a running batch from the slots to the model's own padded cache (once, when an adapter arrives)."""
        if self._fused is None:
            return
        assert self._slots is not None
        if self._seqs:
            self._keys, self._values, self._mask = self._slots.padded()
            self._next_pos = self._slots.lengths.clone()
        self._fused = self._slots = None
