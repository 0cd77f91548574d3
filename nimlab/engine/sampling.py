"""Per-request sampling, with OpenAI's meaning for temperature, top_p, seed, max_tokens and stop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from nimlab.errors import InvalidRequestError


@dataclass(frozen=True)
class SamplingParams:
    """What a request asks of decoding. temperature 0 means greedy (argmax), hence deterministic."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = field(default_factory=tuple)
    ignore_eos: bool = False

    def validate(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidRequestError("temperature must be between 0 and 2", param="temperature")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidRequestError("top_p must be greater than 0 and at most 1", param="top_p")
        if self.max_tokens < 1:
            raise InvalidRequestError("max_tokens must be at least 1", param="max_tokens")
        if len(self.stop) > 4:
            raise InvalidRequestError("at most 4 stop sequences are allowed", param="stop")
        if any(s == "" for s in self.stop):
            raise InvalidRequestError("stop sequences must not be empty", param="stop")


class Sampler:
    """Chooses the next token for one request; owns that request's random generator."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.generator: torch.Generator | None = None
        if params.temperature > 0:
            self.generator = torch.Generator()
            self.generator.manual_seed(params.seed if params.seed is not None else random.getrandbits(63))

    def choose(self, logits: torch.Tensor) -> int:
        """logits: 1-D over the vocabulary (float)."""
        if self.generator is None:
            return int(torch.argmax(logits).item())
        scaled = logits.float() / self.params.temperature
        probs = torch.softmax(scaled, dim=-1)
        if self.params.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = torch.cumsum(sorted_probs, dim=-1)
            # keep the smallest prefix whose mass reaches top_p (always at least one token)
            drop = cumulative - sorted_probs >= self.params.top_p
            sorted_probs[drop] = 0.0
            probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
            probs = probs / probs.sum()
        return int(torch.multinomial(probs, 1, generator=self.generator).item())
