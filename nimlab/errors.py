"""One error hierarchy for nimlab, so every outside failure reaches the user as one line with a next step.

    NimlabError                 base: `str(e)` is the message, `e.hint` the one-line "what to do next"
    ├── ConfigError             a bad NIM_* variable, manifest or config file (names file:line when known)
    ├── ProfileError            NIM_MODEL_PROFILE unknown / not runnable, or no runnable profile at all
    ├── ModelLoadError          the model files are missing or do not load
    ├── EngineError             the engine cannot take a request
    │   ├── InvalidRequestError a request the engine cannot serve (prompt over context, bad params)
    │   └── OverloadedError     the bounded queue is full: retry later
    └── ServiceError            a service we launched did not start, died, or left a port busy
"""

from __future__ import annotations


class NimlabError(Exception):
    """Base class: carries a one-line hint telling the user what to do next."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def render(self) -> str:
        return f"error: {self}" + (f"\n  next: {self.hint}" if self.hint else "")


class ConfigError(NimlabError):
    pass


class ProfileError(NimlabError):
    pass


class ModelLoadError(NimlabError):
    pass


class EngineError(NimlabError):
    pass


class InvalidRequestError(EngineError):
    def __init__(self, message: str, param: str | None = None, hint: str = "") -> None:
        super().__init__(message, hint)
        self.param = param


class OverloadedError(EngineError):
    pass


class ServiceError(NimlabError):
    pass
