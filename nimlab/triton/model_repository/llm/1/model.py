"""llm: nimlab's engine inside Triton's Python backend, decoupled (streams one response per token).

execute() receives the batch Triton's dynamic batcher formed, hands every request to the engine and
returns at once; the engine's own in-flight batching then decides what runs together at each decode step.
Responses go back through each request's response sender, from the host's responder thread.

Cancellation: a client that goes away marks its Triton request cancelled (`request.is_cancelled()`), which
the host checks as responses go out; a request from llm_bls is cancelled by llm_bls itself, with a second
request that carries the same request id and `cancel: true` (the bundled Triton 2.51 Python backend has no
cancel call on a BLS response iterator, so the child is told explicitly).
Either way the engine drops the request at its next step and the server log says after how many tokens.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from nimlab.triton import steps


def _scalar(request, name, default=None):
    """The single value of an optional input, or `default` when the client did not send it."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return default
    return tensor.as_numpy().reshape(-1)[0].item()


def _strings(request, name):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return ()
    return tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in tensor.as_numpy().reshape(-1))


class TritonPythonModel:
    def initialize(self, args):
        """Load the weights and start the engine with the schedule this config asks for (fail the load if bad)."""
        from nimlab.engine import Engine, SamplingParams, load_model

        config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException("llm must be decoupled: model_transaction_policy { decoupled: True }")
        self.batched = config.get("max_batch_size", 0) > 0
        settings = steps.EngineSettings.from_parameters(steps.parameters_of(config))
        import torch

        torch.set_num_threads(settings.engine_threads)
        loaded = load_model(settings.precision, cache_dir=settings.cache_dir)
        engine = Engine(loaded, max_num_seqs=settings.max_num_seqs, kv_capacity_tokens=settings.kv_cache_tokens,
                        max_queue=settings.max_queue, max_model_len=settings.max_model_len,
                        static_batching=settings.static_batching, preallocated_kv=settings.preallocated_kv)
        engine.start()
        warm = loaded.tokenizer("Hello", add_special_tokens=False)["input_ids"]
        for _ in engine.generate(warm, SamplingParams(max_tokens=2, temperature=0)):
            pass
        self.max_model_len = engine.max_model_len
        self.host = steps.EngineHost(engine, log=pb_utils.Logger.log_info)
        pb_utils.Logger.log_info(f"llm: engine ready, batching_strategy={settings.batching_strategy} "
                                 f"max_num_seqs={settings.max_num_seqs} precision={settings.precision} "
                                 f"kv_cache_tokens={settings.kv_cache_tokens}")

    def _sender(self, request):
        """send(delta, error, final) for one request: Triton responses on its response sender."""
        sender = request.get_response_sender()
        shape = (1, -1) if self.batched else (-1,)

        def send(delta, error, final):
            flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if final else 0
            if error is not None:
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(error)), flags=flags)
                return
            reason = (delta.finish_reason or "").encode()
            outputs = [
                pb_utils.Tensor("output_ids", np.array(delta.token_ids, dtype=np.int32).reshape(shape)),
                pb_utils.Tensor("sequence_length", np.array([len(delta.token_ids)], dtype=np.int32).reshape(shape)),
                pb_utils.Tensor("finish_reason", np.array([reason], dtype=np.object_).reshape(shape)),
                pb_utils.Tensor("prompt_tokens", np.array([delta.prompt_tokens], dtype=np.int32).reshape(shape)),
                pb_utils.Tensor("completion_tokens", np.array([delta.completion_tokens], dtype=np.int32).reshape(shape)),
            ]
            sender.send(pb_utils.InferenceResponse(output_tensors=outputs), flags=flags)

        return send

    def execute(self, requests):
        """Hand each request of the batch to the engine; answers flow back later (decoupled): return None."""
        for request in requests:
            if _scalar(request, "cancel", False):  # from llm_bls: stop the request with this id, answer empty
                self.host.cancel(request.request_id())
                request.get_response_sender().send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                continue
            send = self._sender(request)
            try:
                ids = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy().reshape(-1).tolist()
                params = steps.sampling_params(
                    _scalar(request, "request_output_len"),
                    temperature=_scalar(request, "temperature"),
                    top_p=_scalar(request, "runtime_top_p"),
                    seed=_scalar(request, "random_seed"),
                    ignore_eos=_scalar(request, "ignore_eos", False),
                    stop=_strings(request, "stop_words"),
                    default_max_tokens=max(1, self.max_model_len - len(ids)),  # max_tokens 0: fill the context
                )
                self.host.submit(ids, params, send, stream=bool(_scalar(request, "streaming", False)),
                                 key=request.request_id(), is_cancelled=request.is_cancelled)
            except Exception as exc:  # noqa: BLE001 - a bad request fails alone
                self.host.fail(send, exc)
        return None

    def finalize(self):
        """Stop the engine thread and the responder."""
        self.host.stop()
