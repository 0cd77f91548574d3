"""Server-sent events as OpenAI streams them: `data: <json>` events, then `data: [DONE]`."""

from __future__ import annotations

import json
from typing import Any

DONE = "data: [DONE]\n\n"


def event(body: dict[str, Any]) -> str:
    """One SSE event; non-ASCII text stays readable (OpenAI sends UTF-8, not \\u escapes)."""
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def error_event(body: dict[str, Any]) -> str:
    """An error after the 200 has gone out: an OpenAI error body as an event (the stream then ends with DONE)."""
    return f"data: {json.dumps(body)}\n\n"
