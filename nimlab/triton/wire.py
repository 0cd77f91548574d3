"""Errors across the Triton boundary, light enough for the front end (no torch, no engine import).

A Triton error is a string. Models prefix it with the OpenAI error type (and param) so the front end can
answer with the right status: "[invalid_request_error:max_tokens] max_tokens=... exceeds ...".
"""

from __future__ import annotations

import re

from nimlab.errors import EngineError, InvalidRequestError, OverloadedError

_ERR = re.compile(r"^\[(?P<type>[a-z_]+)(?::(?P<param>[\w.]+))?\] (?P<message>.*)$", re.S)


class DownstreamError(Exception):
    """An error another model already encoded (BLS calls): passed on unchanged."""


def encode_error(exc: BaseException) -> str:
    if isinstance(exc, DownstreamError):
        return str(exc)
    if isinstance(exc, InvalidRequestError):
        return f"[invalid_request_error{':' + exc.param if exc.param else ''}] {exc}"
    if isinstance(exc, OverloadedError):
        return f"[rate_limit_exceeded] {exc}; {exc.hint}"
    if isinstance(exc, EngineError):
        return f"[service_unavailable] {exc}"
    return f"[internal_error] {type(exc).__name__}: {exc}"


def decode_error(message: str) -> tuple[str, str | None, str]:
    """(type, param, message) from an encoded error; Triton's own errors come back as internal_error."""
    # Triton may wrap our text ("in ensemble 'x', [type] ..."): find our prefix anywhere
    idx = message.find("[")
    while idx >= 0:
        m = _ERR.match(message[idx:])
        if m:
            return m["type"], m["param"], m["message"]
        idx = message.find("[", idx + 1)
    return "internal_error", None, message
