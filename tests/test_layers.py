"""nimlab's packages sit on one-way floors: every module's imports (read with `ast`, lazy ones included) go
down or sideways, never up, and neither the packages nor the files import each other in a circle.

    errors, ports, process (and the nimlab package itself)   ground floor: no nimlab import above them
    openai                                                   the OpenAI wire format, SSE, serving seam, app
    engine, model_cache                                      the model; the shared cache it fills
    nim, triton, lora, precision, bench                      the two stacks and the tools over the engine
    lab, grader, workshop, labkit                            what learners and instructors run
    cli, __main__                                            the command line
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "nimlab"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("nimlab", "errors", "ports", "process"),
    ("openai",),
    ("engine", "model_cache"),
    ("nim", "triton", "lora", "precision", "bench"),
    ("lab", "grader", "workshop", "labkit"),
    ("cli", "__main__"),
)
FLOOR = {part: i for i, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(source: str, module: str, known: set[str]) -> set[str]:
    """The nimlab modules `source` imports: `from nimlab.x import y` names nimlab.x.y when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "nimlab")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "nimlab":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    found.discard(module)
    return found


def package(module: str) -> str:
    """The floor-bearing part of a module name: nimlab.lab.local -> lab, nimlab.errors -> errors."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    return {m: frozenset(imports_of(p.read_text(), m, known)) for m, p in files.items()}


def graph() -> dict[str, set[str]]:
    """module -> the nimlab modules it imports (a fresh copy: tests plant violations in it)."""
    return {m: set(t) for m, t in _graph().items()}


def upward(imports: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for mod, targets in sorted(imports.items()):
        if package(mod) not in FLOOR:
            problems.append(f"{mod}: its package {package(mod)!r} has no floor in LAYERS (add it)")
            continue
        for target in sorted(targets):
            if FLOOR.get(package(target), -1) > FLOOR[package(mod)]:
                problems.append(f"{mod} imports {target}, a floor above it")
    return problems


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def package_edges(imports: Mapping[str, set[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for mod, targets in imports.items():
        edges.setdefault(package(mod), set()).update(package(t) for t in targets if package(t) != package(mod))
    return edges


def test_no_module_imports_a_floor_above_it():
    assert upward(graph()) == []


def test_no_file_and_no_package_imports_in_a_circle():
    imports = graph()
    assert cycles(imports) == [], "files importing each other"
    assert cycles(package_edges(imports)) == [], "packages importing each other"


def test_triton_and_the_openai_layer_never_import_the_course_nim():
    imports = graph()
    for mod, targets in imports.items():
        if package(mod) in ("triton", "openai"):
            assert not [t for t in targets if package(t) == "nim"], mod


@pytest.mark.parametrize(("planted", "expect"), [
    ({"nimlab.engine.x": "from nimlab.nim.config import from_env\n"}, "nimlab.engine.x imports nimlab.nim.config"),
    ({"nimlab.process": "def f():\n    from nimlab.lab.launch import course_nim\n"}, "nimlab.process imports"),
    ({"nimlab.openai.y": "import nimlab.triton.wire\n"}, "nimlab.openai.y imports nimlab.triton.wire"),
    ({"nimlab.newpkg.z": "import nimlab.errors\n"}, "has no floor"),
])
def test_the_checks_fail_on_a_planted_violation(planted, expect):
    imports = graph()
    known = set(imports) | set(planted)
    for mod, source in planted.items():
        imports[mod] = imports_of(source, mod, known)
    assert any(expect in p for p in upward(imports)), upward(imports)


def test_the_checks_fail_on_planted_cycles():
    imports = graph()
    known = set(imports)
    imports["nimlab.lab.services"] |= imports_of("from nimlab.lab.local import LocalBackend\n",
                                                 "nimlab.lab.services", known)
    assert any({"nimlab.lab.local", "nimlab.lab.services"} <= set(c) for c in cycles(imports))
    imports["nimlab.lora.settings"] |= imports_of("from nimlab.nim import config\n", "nimlab.lora.settings", known)
    assert ["lora", "nim"] in cycles(package_edges(imports))


RENAMED = {"openai_layer": "openai", "triton_stack": "triton"}  # folders that would shadow a real module


def test_test_folders_mirror_the_packages_and_shadow_no_module():
    """tests/ itself is on sys.path (conftest's folder), so each folder in it is importable as a namespace
    package of its own name; one named like a module a library probes for makes the library believe it is
    installed (a folder tests/triton made transformers import its Triton kernels and fail to load any model).
    So every folder mirrors a nimlab package, renamed where the package's own name is taken."""
    import importlib.machinery
    import importlib.util
    import re
    import sys

    tests_dir = Path(__file__).resolve().parent
    folders = sorted(p.name for p in tests_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert all(RENAMED.get(f, f) in packages for f in folders), [f for f in folders if RENAMED.get(f, f) not in packages]
    import transformers.utils.import_utils as iu

    probed = set(re.findall(r'_is_package_available\("(\w+)"', Path(iu.__file__).read_text()))
    assert "triton" in probed  # the list is read, not empty
    path = [p for p in sys.path if Path(p or ".").resolve() != tests_dir]
    installed = {f for f in folders if importlib.machinery.PathFinder.find_spec(f, path) is not None
                 and importlib.machinery.PathFinder.find_spec(f, path).origin is not None}
    assert not (set(folders) & probed) and not installed, (set(folders) & probed, installed)
