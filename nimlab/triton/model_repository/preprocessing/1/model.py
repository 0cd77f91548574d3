"""preprocessing: a chat (messages, JSON) or a plain prompt (text_input) -> prompt token ids.

Thin on purpose: the work is in nimlab.triton.steps.prompt_ids, the same chat-template path the course
NIM uses, so both stacks feed the engine identical tokens.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from nimlab.triton import steps


def _text(request, name):
    """The first element of an optional BYTES input as str, or None when the client did not send it."""
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    value = tensor.as_numpy().reshape(-1)[0]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class TritonPythonModel:
    def initialize(self, args):
        """Runs once per instance: read our config, load the tokenizer (no weights needed here)."""
        config = json.loads(args["model_config"])
        self.batched = config.get("max_batch_size", 0) > 0  # outputs then carry a leading batch dim of 1
        params = steps.parameters_of(config)
        self.tokenizer = steps.load_tokenizer(steps.model_cache_dir(params.get("cache_dir", "")))

    def execute(self, requests):
        """One response per request, in order; a bad request gets an error response, the others still run."""
        responses = []
        for request in requests:
            try:
                ids = steps.prompt_ids(self.tokenizer, _text(request, "text_input"), _text(request, "messages"))
                shape = (1, -1) if self.batched else (-1,)
                outputs = [
                    pb_utils.Tensor("INPUT_ID", np.array(ids, dtype=np.int32).reshape(shape)),
                    pb_utils.Tensor("REQUEST_INPUT_LEN", np.array([len(ids)], dtype=np.int32).reshape(shape)),
                ]
                responses.append(pb_utils.InferenceResponse(output_tensors=outputs))
            except Exception as exc:  # noqa: BLE001 - becomes this request's error, as Triton expects
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(steps.encode_error(exc))))
        return responses

    def finalize(self):
        """Nothing to release: the tokenizer goes with the process."""
