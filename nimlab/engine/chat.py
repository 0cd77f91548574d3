"""One way to turn chat messages into prompt tokens, shared by the API, training and evaluation.

An adapter trained on prompts built one way and served on prompts built another way learns the wrong
thing; so the trainer, the validator and the OpenAI endpoint all call this.
"""

from __future__ import annotations

from typing import Any


def encode_chat(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> list[int]:
    """A request's prompt (ending with the assistant's turn opened), or with add_generation_prompt=False a
    finished conversation (int8 calibration reads whole chats)."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_question(tokenizer: Any, question: str) -> list[int]:
    """A single user turn, as a learner's `messages=[{"role": "user", ...}]` request sends it."""
    return encode_chat(tokenizer, [{"role": "user", "content": question}])
