"""llm_bls: preprocessing -> llm (streaming) -> postprocessing, called from Python (Business Logic Scripting).

For each llm chunk it decodes all tokens so far and sends only the new text (steps.StreamText), which is
what keeps streamed text correct; `ensemble` cannot do that because its steps keep no state.

A client that goes away (the OpenAI front end cancels its gRPC stream) marks this request cancelled: the loop
sees `request.is_cancelled()`, tells llm to stop the generation it asked for, and ends the request.
"""

import json
import threading
import uuid

import numpy as np
import triton_python_backend_utils as pb_utils

from nimlab.triton import steps

# inputs passed on to llm under its own names (TensorRT-LLM's BLS does the same renaming)
_TO_LLM = {"max_tokens": "request_output_len", "temperature": "temperature", "top_p": "runtime_top_p",
           "random_seed": "random_seed", "ignore_eos": "ignore_eos", "stop_words": "stop_words", "stream": "streaming"}
_LLM_OUTPUTS = ["output_ids", "finish_reason", "prompt_tokens", "completion_tokens"]


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.batched = config.get("max_batch_size", 0) > 0

    def _shape(self, array):
        return array.reshape((1, -1) if self.batched else (-1,))

    def execute(self, requests):
        """One thread per request, then return: one instance serves many concurrent streams."""
        for request in requests:
            sender = request.get_response_sender()
            threading.Thread(target=self._serve, args=(request, sender), daemon=True).start()
        return None

    def _serve(self, request, sender):
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            self._generate(request, sender)
        except Exception as exc:  # noqa: BLE001 - every failure ends this stream with an error, never a hang
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(steps.encode_error(exc))), flags=final)

    def _call(self, model, inputs, outputs):
        response = pb_utils.InferenceRequest(model_name=model, inputs=inputs, requested_output_names=outputs).exec()
        if response.has_error():
            raise steps.DownstreamError(response.error().message())
        return response

    def _generate(self, request, sender):
        # 1. preprocessing: chat template + tokenize
        pre_inputs = [pb_utils.Tensor(n, t.as_numpy()) for n in ("text_input", "messages")
                      if (t := pb_utils.get_input_tensor_by_name(request, n)) is not None]
        pre = self._call("preprocessing", pre_inputs, ["INPUT_ID", "REQUEST_INPUT_LEN"])
        llm_inputs = [pb_utils.Tensor("input_ids", pb_utils.get_output_tensor_by_name(pre, "INPUT_ID").as_numpy()),
                      pb_utils.Tensor("input_lengths",
                                      pb_utils.get_output_tensor_by_name(pre, "REQUEST_INPUT_LEN").as_numpy())]
        stop, stream = (), False
        for ours, theirs in _TO_LLM.items():
            tensor = pb_utils.get_input_tensor_by_name(request, ours)
            if tensor is None:
                continue
            llm_inputs.append(pb_utils.Tensor(theirs, tensor.as_numpy()))
            if ours == "stop_words":
                stop = tuple(v.decode() if isinstance(v, bytes) else str(v) for v in tensor.as_numpy().reshape(-1))
            if ours == "stream":
                stream = bool(tensor.as_numpy().reshape(-1)[0])

        # 2. llm, decoupled: an iterator of responses (streaming: one per token)
        text, tokens = steps.StreamText(stop), []
        llm_id = uuid.uuid4().hex  # names the llm request, so it can be cancelled
        llm = pb_utils.InferenceRequest(model_name="llm", inputs=llm_inputs, requested_output_names=_LLM_OUTPUTS,
                                        request_id=llm_id)
        for response in llm.exec(decoupled=True):
            if request.is_cancelled():  # the client went away: stop generating for it
                self._cancel_llm(llm_id, llm_inputs)
                error = pb_utils.TritonError("the client cancelled the request", pb_utils.TritonError.CANCELLED)
                sender.send(pb_utils.InferenceResponse(error=error), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
                return
            if response.has_error():
                raise steps.DownstreamError(response.error().message())
            out = {n: pb_utils.get_output_tensor_by_name(response, n) for n in _LLM_OUTPUTS}
            if out["output_ids"] is None:  # the empty final marker some senders add
                continue
            chunk = out["output_ids"].as_numpy().reshape(-1)
            tokens.extend(chunk.tolist())
            reason = out["finish_reason"].as_numpy().reshape(-1)[0]
            done = bool(reason)
            # 3. postprocessing on ALL tokens so far; release only the new, complete text
            post = self._call("postprocessing", [pb_utils.Tensor("TOKENS_BATCH", self._shape(np.array(tokens, np.int32)))],
                              ["OUTPUT"])
            full = pb_utils.get_output_tensor_by_name(post, "OUTPUT").as_numpy().reshape(-1)[0].decode("utf-8")
            delta = text.update(full, final=done)
            if not stream and not done:
                continue
            outputs = [
                pb_utils.Tensor("text_output", self._shape(np.array([delta.encode("utf-8")], dtype=np.object_))),
                pb_utils.Tensor("output_ids", self._shape(chunk.astype(np.int32))),
                pb_utils.Tensor("finish_reason", out["finish_reason"].as_numpy()),
                pb_utils.Tensor("prompt_tokens", out["prompt_tokens"].as_numpy()),
                pb_utils.Tensor("completion_tokens", out["completion_tokens"].as_numpy()),
            ]
            sender.send(pb_utils.InferenceResponse(output_tensors=outputs),
                        flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if done else 0)
            if done:
                return
        raise RuntimeError("llm ended its stream without a finish_reason")

    def _cancel_llm(self, llm_id, llm_inputs):
        """Tell llm to stop the request named `llm_id` (this backend has no cancel call on a BLS response iterator)."""
        required = [t for t in llm_inputs if t.name() in ("input_ids", "input_lengths", "request_output_len")]
        cancel = pb_utils.Tensor("cancel", self._shape(np.array([True], dtype=bool)))
        stop = pb_utils.InferenceRequest(model_name="llm", inputs=[*required, cancel], request_id=llm_id,
                                         requested_output_names=_LLM_OUTPUTS)
        for _ in stop.exec(decoupled=True):
            pass

    def finalize(self):
        """Threads are daemons; in-flight streams end with the server."""
