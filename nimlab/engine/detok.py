"""Incremental detokenization with stop sequences: text deltas that never split a character or leak a stop."""

from __future__ import annotations

from typing import Any


class IncrementalText:
    """Turns a growing list of token ids into safe text deltas.

    Text that could still become the start of a stop sequence is held back until it cannot; a byte-level
    token that ends mid-character (decoded as U+FFFD) is held back until the character completes.
    """

    def __init__(self, tokenizer: Any, stop: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.ids: list[int] = []
        self.emitted = 0  # characters of the full text already handed out
        self.text = ""
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add one token; return the text that may be released now (possibly empty)."""
        self.ids.append(token_id)
        self.text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if self.stop:
            hit = min((i for i in (self.text.find(s, max(0, self.emitted - len(s))) for s in self.stop) if i >= 0),
                      default=-1)
            if hit >= 0:
                self.stopped = True
                self.text = self.text[:hit]
                return self._release(len(self.text))
        safe = len(self.text)
        if self.text.endswith("\ufffd"):
            safe = len(self.text.rstrip("\ufffd"))
        for s in self.stop:
            # longest suffix of the text that is a proper prefix of a stop sequence stays held back
            for k in range(min(len(s) - 1, safe), 0, -1):
                if self.text[safe - k:safe] == s[:k]:
                    safe -= k
                    break
        return self._release(safe)

    def flush(self) -> str:
        """Release everything held back (the request is over and no stop sequence matched)."""
        return self._release(len(self.text.rstrip("\ufffd")))

    def _release(self, upto: int) -> str:
        if upto <= self.emitted:
            return ""
        delta = self.text[self.emitted:upto]
        self.emitted = upto
        return delta
