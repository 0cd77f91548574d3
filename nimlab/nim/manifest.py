"""The profile manifest: a YAML data file read once into frozen Profile values (file:line on any error)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from nimlab.engine.precision import PRECISIONS
from nimlab.errors import ConfigError

DEFAULT_MANIFEST = "manifest.yaml"
_REQUIRE_KEYS = {"gpus", "gpu_devices", "min_gpu_memory_gib", "min_cpus", "cpu_flags", "min_memory_gib"}
_RUNTIME_KEYS = {"preallocated_kv", "max_num_seqs", "kv_cache_tokens", "precision", "engine_threads", "auto_select"}


@dataclass(frozen=True)
class Requirements:
    gpus: int = 0
    gpu_devices: tuple[str, ...] = ()
    min_gpu_memory_gib: float = 0.0
    min_cpus: float = 0.0
    cpu_flags: tuple[str, ...] = ()
    min_memory_gib: float = 0.0


@dataclass(frozen=True)
class Runtime:
    """How the course engine runs a profile. Every runnable profile batches in flight; the engine (precision
    and kernels) is what makes one faster than another, as on real NIMs."""

    max_num_seqs: int
    kv_cache_tokens: int
    precision: str = "fp32"
    # torch intra-op threads for the engine. One: the other core serves HTTP, and an OpenMP team never
    # waits on a thread the event loop has pushed off its core (measured: 3x faster under load than two).
    engine_threads: int = 1
    # False keeps a runnable profile out of automatic selection: it runs only when NIM_MODEL_PROFILE names it
    # (for experiments with a manifest of your own; the packaged profiles all take part in selection).
    auto_select: bool = True
    # the native engine (true: the fused decode step over a KV cache in blocks, nimlab/engine/fused.py) or
    # transformers' own forward over a cache grown by copying at every step (false, the generic one): what
    # makes one engine faster than the other at the same batch size; the key keeps its first name
    preallocated_kv: bool = False

    @property
    def schedule(self) -> str:
        """In-flight batching, or one request at a time when the batch is capped at one sequence."""
        return "inflight" if self.max_num_seqs > 1 else "one-at-a-time"

    def with_overrides(self, max_num_seqs: int | None = None) -> Runtime:
        """This runtime with configuration that outranks the profile (NIM_PASSTHROUGH_ARGS) applied."""
        return self if max_num_seqs is None else replace(self, max_num_seqs=max_num_seqs)


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    tags: dict[str, str] = field(hash=False)
    requires: Requirements
    runtime: Runtime | None
    line: int = 0

    @property
    def optimized(self) -> bool:
        """Hardware-specific (names a gpu or cpu) as opposed to generic."""
        return "gpu" in self.tags or "cpu" in self.tags

    @property
    def lora(self) -> bool:
        return self.tags.get("feat_lora") == "true"

    @property
    def label(self) -> str:
        return f"{self.id} ({self.name})"


@dataclass(frozen=True)
class Manifest:
    path: str
    model: str
    served_model_name: str
    profiles: tuple[Profile, ...]

    def find(self, key: str) -> Profile | None:
        """A profile by id or by name, as NIM_MODEL_PROFILE accepts either."""
        for p in self.profiles:
            if key in (p.id, p.name):
                return p
        return None


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers each mapping's line, so errors can say file:line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_manifest(path: str | Path | None = None) -> Manifest:
    """Read and check a manifest (the packaged one by default)."""
    if path is None:
        text = resources.files("nimlab.nim").joinpath(DEFAULT_MANIFEST).read_text()
        where = str(resources.files("nimlab.nim").joinpath(DEFAULT_MANIFEST))
    else:
        where = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read the manifest ({exc.strerror})", hint="check the path") from exc
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})",
                          hint="fix the YAML syntax at that line") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("profiles"), list):
        raise ConfigError(f"{where}: a manifest needs a top-level 'profiles' list", hint="see the packaged manifest")
    profiles = tuple(_profile(where, raw) for raw in doc["profiles"])
    seen: dict[str, int] = {}
    for p in profiles:
        for key in (p.id, p.name):
            if key in seen:
                raise ConfigError(f"{where}:{p.line}: duplicate profile id or name {key!r} (first at line {seen[key]})",
                                  hint="give every profile a unique name; ids are sha256(name)")
            seen[key] = p.line
    model = str(doc.get("model", ""))
    return Manifest(where, model, str(doc.get("served_model_name", model)), profiles)


def _profile(where: str, raw: Any) -> Profile:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each profile must be a mapping", hint="see the packaged manifest")
    line = raw.get("__line__", 0)

    def fail(msg: str) -> ConfigError:
        return ConfigError(f"{where}:{line}: {msg}", hint="fix that profile entry")

    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise fail("profile has no name")
    expected = hashlib.sha256(name.encode()).hexdigest()
    if raw.get("id") != expected:
        raise fail(f"profile {name!r} must have id sha256(name) = {expected}")
    tags = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (raw.get("tags") or {}).items() if k != "__line__"}
    req_raw = {k: v for k, v in (raw.get("requires") or {}).items() if k != "__line__"}
    unknown = set(req_raw) - _REQUIRE_KEYS
    if unknown:
        raise fail(f"unknown requirement(s) {sorted(unknown)}; known: {sorted(_REQUIRE_KEYS)}")
    try:
        requires = Requirements(
            gpus=int(req_raw.get("gpus", 0)),
            gpu_devices=tuple(str(d).lower() for d in req_raw.get("gpu_devices", ())),
            min_gpu_memory_gib=float(req_raw.get("min_gpu_memory_gib", 0)),
            min_cpus=float(req_raw.get("min_cpus", 0)),
            cpu_flags=tuple(str(f) for f in req_raw.get("cpu_flags", ())),
            min_memory_gib=float(req_raw.get("min_memory_gib", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise fail(f"bad requirement value ({exc})") from exc
    runtime = None
    if raw.get("runtime") is not None:
        rt = {k: v for k, v in raw["runtime"].items() if k != "__line__"}
        unknown = set(rt) - _RUNTIME_KEYS
        if unknown:
            raise fail(f"unknown runtime key(s) {sorted(unknown)}; known: {sorted(_RUNTIME_KEYS)}")
        try:
            runtime = Runtime(max_num_seqs=int(rt.get("max_num_seqs", 8)),
                              kv_cache_tokens=int(rt.get("kv_cache_tokens", 8192)),
                              precision=str(rt.get("precision", tags.get("precision", "fp32"))),
                              engine_threads=int(rt.get("engine_threads", 1)),
                              auto_select=_flag(rt.get("auto_select", True)),
                              preallocated_kv=_flag(rt.get("preallocated_kv", False)))
        except (TypeError, ValueError) as exc:
            raise fail(f"bad runtime value ({exc})") from exc
        if runtime.precision not in PRECISIONS:
            raise fail(f"runtime.precision {runtime.precision!r} has no engine here; use one of {PRECISIONS}")
        if runtime.max_num_seqs < 1:
            raise fail("runtime.max_num_seqs must be at least 1")
    return Profile(id=expected, name=name, tags=tags, requires=requires, runtime=runtime, line=line)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")
