"""postprocessing: token ids -> text, decoding exactly the tokens it is given (special tokens skipped)."""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from nimlab.triton import steps


class TritonPythonModel:
    def initialize(self, args):
        """Runs once per instance: load the tokenizer."""
        config = json.loads(args["model_config"])
        self.batched = config.get("max_batch_size", 0) > 0
        params = steps.parameters_of(config)
        self.tokenizer = steps.load_tokenizer(steps.model_cache_dir(params.get("cache_dir", "")))

    def execute(self, requests):
        """A dynamic batch arrives as a list of requests; each is decoded on its own (ragged lengths)."""
        responses = []
        for request in requests:
            ids = pb_utils.get_input_tensor_by_name(request, "TOKENS_BATCH").as_numpy().reshape(-1)
            text = self.tokenizer.decode(ids.tolist(), skip_special_tokens=True)
            out = np.array([text.encode("utf-8")], dtype=np.object_).reshape((1, 1) if self.batched else (1,))
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("OUTPUT", out)]))
        return responses

    def finalize(self):
        """Nothing to release."""
