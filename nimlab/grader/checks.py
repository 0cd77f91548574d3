"""Helpers for exercise check functions. A check is `fn(value, expect, test) -> (fraction 0..1, feedback)`;
it runs in the grader (trusted), never in the sandbox, and its feedback is shown only for visible tests."""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

Check = tuple[float, str]
_modules: dict[Path, ModuleType] = {}
_loading = threading.Lock()  # batch grading calls this from several threads: one module per file


def load_checks(path: Path) -> ModuleType:
    path = path.resolve()
    with _loading:
        if path in _modules:
            return _modules[path]
        spec = importlib.util.spec_from_file_location(f"nimlab_checks_{abs(hash(path))}", path)
        assert spec is not None and spec.loader is not None, path
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _modules[path] = mod
        return mod


def field(value: Any, key: str) -> Any:
    """value[key] for a dict answer, with a learner-readable error when the shape is wrong."""
    if not isinstance(value, dict):
        raise ShapeError(f"expected a dict with key {key!r}, got {type(value).__name__}")
    if key not in value:
        raise ShapeError(f"your answer has no {key!r} key (keys: {sorted(value)[:8]})")
    return value[key]


def verdict(value: Any, expect: dict, test: Any = None) -> Check:
    """The `verdict` key against the expected one (the check several decision exercises share)."""
    got = field(value, "verdict")
    if got == expect["verdict"]:
        return 1.0, f"verdict {got!r} is right"
    return 0.0, f"verdict {got!r}; the rule gives {expect['verdict']!r}"


def codes(value: Any, key: str) -> set[str]:
    """value[key] as a set of codes, with a learner-readable error when it is not a list of strings."""
    got = field(value, key)
    if not isinstance(got, list | tuple) or not all(isinstance(c, str) for c in got):
        raise ShapeError(f"{key!r} must be a list of codes (strings)")
    return set(got)


def score_codes(have: set[str], want: set[str], noun: str = "reasons") -> Check:
    """Partial credit for a set of codes: each right one counts, each one that does not apply takes one back."""
    right, wrong = len(want & have), len(have - want)
    fraction = max(0.0, (right - wrong) / len(want))
    if fraction == 1.0:
        return 1.0, f"{noun} are right"
    missing = sorted(want - have)
    return fraction, (f"{right} of {len(want)} {noun} right"
                      + (f", missing {missing}" if missing else "")
                      + (f", {sorted(have - want)} do not apply" if wrong else ""))


def close(got: Any, want: float, rel: float = 0.01, abs_tol: float = 0.5) -> bool:
    return isinstance(got, int | float) and not isinstance(got, bool) and math.isfinite(got) and math.isclose(
        got, want, rel_tol=rel, abs_tol=abs_tol)


class ShapeError(ValueError):
    """The answer does not have the shape the statement asks for; its message is learner feedback."""
