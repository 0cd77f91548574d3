"""Learner text is hostile: what every reporter does to it before writing it anywhere."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object, newlines: bool = True) -> str:
    """`text` as plain printable Unicode: lone surrogates and other unencodable characters replaced, ANSI escape
    sequences and control characters (form feed, bell, NUL, ...) removed; tabs and (if `newlines`) newlines kept."""
    s = str(text).encode("utf-8", "replace").decode("utf-8")
    s = _CONTROL.sub("", _ANSI.sub("", s))
    return s if newlines else s.replace("\n", " ")
