"""The model's tokenizer for processes that need no weights (Triton's pre- and postprocessing).

transformers' AutoTokenizer imports torch: 5-7 s of CPU per process, paid by every tokenizer process each
time the hand-built stack starts. The same files serve just as well through the two pieces transformers
itself uses underneath: Hugging Face `tokenizers` (text <-> ids) and transformers' jinja renderer for the
chat template (importable without torch). `tests/engine/test_light_tokenizer.py` holds both to AutoTokenizer,
token for token, so the two stacks keep feeding the engine identical prompts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class LightTokenizer:
    """The subset of a transformers tokenizer the serving paths call: __call__, decode, apply_chat_template."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        config = json.loads((self.folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.chat_template: str = (self.folder / "chat_template.jinja").read_text(encoding="utf-8")
        # the template sees the special tokens by name, as AutoTokenizer passes them (bos_token, eos_token, ...)
        self.special_tokens = {k: v for k, v in config.items() if k.endswith("_token") and isinstance(v, str)}
        eos = self.special_tokens.get("eos_token")
        self.eos_token_id = self._tokenizer.token_to_id(eos) if eos else None

    @staticmethod
    def can_load(folder: Path) -> bool:
        return all((Path(folder) / name).is_file()
                   for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"))

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": self.encode(text, add_special_tokens=add_special_tokens)}

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        # transformers skips its clean-up step for BPE tokenizers such as this one: plain decode matches it
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def apply_chat_template(self, messages: list[dict[str, Any]], add_generation_prompt: bool = False,
                            tokenize: bool = False) -> str | list[int]:
        from transformers.utils.chat_template_utils import render_jinja_template

        if not messages:
            raise ValueError("cannot apply the chat template to an empty conversation")
        rendered, _ = render_jinja_template(conversations=[messages], chat_template=self.chat_template,
                                            add_generation_prompt=add_generation_prompt, **self.special_tokens)
        text = rendered[0]
        return self.encode(text) if tokenize else text
