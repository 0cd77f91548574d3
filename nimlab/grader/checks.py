"""Helpers for exercise check functions. A check is `fn(value, expect, test) -> (fraction 0..1, feedback)`;
it runs in the grader (trusted), never in the sandbox, and its feedback is shown only for visible tests."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType
from typing import Any

Check = tuple[float, str]
_modules: dict[Path, ModuleType] = {}


def load_checks(path: Path) -> ModuleType:
    path = path.resolve()
    if path not in _modules:
        spec = importlib.util.spec_from_file_location(f"nimlab_checks_{abs(hash(path))}", path)
        assert spec is not None and spec.loader is not None, path
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _modules[path] = mod
    return _modules[path]


def field(value: Any, key: str) -> Any:
    """value[key] for a dict answer, with a learner-readable error when the shape is wrong."""
    if not isinstance(value, dict):
        raise ShapeError(f"expected a dict with key {key!r}, got {type(value).__name__}")
    if key not in value:
        raise ShapeError(f"your answer has no {key!r} key (keys: {sorted(value)[:8]})")
    return value[key]


def close(got: Any, want: float, rel: float = 0.01, abs_tol: float = 0.5) -> bool:
    return isinstance(got, int | float) and not isinstance(got, bool) and math.isfinite(got) and math.isclose(
        got, want, rel_tol=rel, abs_tol=abs_tol)


class ShapeError(ValueError):
    """The answer does not have the shape the statement asks for; its message is learner feedback."""
