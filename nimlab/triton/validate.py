"""Check a model repository before tritonserver does: the real schema, then the traps Triton keeps quiet about.

Schema: each config.pbtxt is parsed with Triton's own ModelConfig protobuf
(tritonclient.grpc.model_config_pb2) and protobuf text_format, so an unknown field, a bad enum or a bad
number is reported as file:line:column. Semantics (Triton loads these without a clear word):
  - model.py creates an output tensor the config does not declare   (Triton answers "outputs": [])
  - max_batch_size: 0 with dynamic_batching                           (loads; batching silently never happens)
  - a `stream`/`streaming` input, or a response sender in model.py, on a model that is not decoupled
  - a decoupled model whose model.py never takes a response sender   (requests would never be answered)
  - a variable-length input under dynamic batching without allow_ragged_batch (batches would not form)
  - ensemble maps that name tensors the step models do not have; unfilled ${placeholders}; name != folder
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from nimlab.errors import ConfigError


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    column: int
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.severity}: {self.message}"


def _locate(text: str, pattern: str, start_line: int = 1) -> tuple[int, int]:
    """1-based line and column of the first regex match outside comments (or 1:1)."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if lineno < start_line:
            continue
        code = line.split("#", 1)[0]
        m = re.search(pattern, code)
        if m:
            return lineno, m.start() + 1
    return 1, 1


def parse_config(path: Path) -> tuple[model_config_pb2.ModelConfig | None, list[Problem]]:
    """Parse one config.pbtxt with the real schema; problems carry file:line:column."""
    text = path.read_text()
    problems = []
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.search(r"\$\{?\w+\}?", line.split("#", 1)[0])
        if m:
            problems.append(Problem(path, lineno, m.start() + 1,
                                    f"unfilled placeholder {m.group(0)}: render the repository first "
                                    "(nimlab triton render)"))
    if problems:
        return None, problems
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        line, col = exc.GetLine() or 1, exc.GetColumn() or 1
        message = re.sub(r"^\d+:\d+ : ", "", str(exc))
        return None, [Problem(path, line, col, message)]
    return config, []


def _model_py_tensors(py: Path) -> tuple[list[tuple[str, int, int]], set[str] | None, bool]:
    """Literal names in pb_utils.Tensor("NAME", ...) calls, the models it calls by BLS (None: not literal),
    and whether it takes a response sender."""
    tree = ast.parse(py.read_text(), str(py))
    names, called, any_dynamic_call, sender = [], set(), False, False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        attr = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if attr == "Tensor" and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            names.append((node.args[0].value, node.lineno, node.col_offset + 1))
        elif attr == "InferenceRequest":
            kw = {k.arg: k.value for k in node.keywords}
            target = kw.get("model_name")
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                called.add(target.value)
            else:
                any_dynamic_call = True
        elif attr == "get_response_sender":
            sender = True
    return names, (None if any_dynamic_call else called), sender


def _is_variable(dims) -> bool:
    return any(d < 0 for d in dims)


def validate_repository(repo: Path) -> list[Problem]:
    """All problems in a rendered repository, errors and warnings, sorted by file and line."""
    repo = Path(repo)
    if not repo.is_dir():
        raise ConfigError(f"{repo} is not a directory")
    problems: list[Problem] = []
    configs: dict[str, tuple[Path, str, model_config_pb2.ModelConfig]] = {}
    unparsed: set[str] = set()  # models whose config failed: no cross-checks against them (no cascades)
    for cfg_path in sorted(repo.glob("*/config.pbtxt")):
        config, found = parse_config(cfg_path)
        problems += found
        if config is None:
            unparsed.add(cfg_path.parent.name)
        else:
            configs[cfg_path.parent.name] = (cfg_path, cfg_path.read_text(), config)
    if not configs and not problems:
        problems.append(Problem(repo, 1, 1, "no <model>/config.pbtxt found"))

    for folder, (path, text, cfg) in configs.items():
        def err(message: str, pattern: str, severity: str = "error", path=path, text=text) -> None:
            line, col = _locate(text, pattern)
            problems.append(Problem(path, line, col, message, severity))

        if cfg.name and cfg.name != folder:
            err(f"name {cfg.name!r} differs from its folder {folder!r}: Triton will not load it", r"\bname\s*:")
        if cfg.max_batch_size < 0:
            err("max_batch_size must be >= 0", r"max_batch_size")
        if cfg.max_batch_size == 0 and cfg.HasField("dynamic_batching"):
            err("max_batch_size: 0 with dynamic_batching: Triton loads it and never batches; set max_batch_size "
                "> 0 or remove dynamic_batching", r"dynamic_batching")
        for group in cfg.instance_group:
            if group.count < 1 and cfg.platform != "ensemble":
                err("instance_group count must be at least 1", r"count")
        seen: set[str] = set()
        for t in list(cfg.input) + list(cfg.output):
            if t.name in seen:
                err(f"tensor {t.name!r} is declared twice", rf'"{re.escape(t.name)}"')
            seen.add(t.name)
        decoupled = cfg.model_transaction_policy.decoupled
        for t in cfg.input:
            if t.name in ("stream", "streaming") and not decoupled and cfg.platform != "ensemble":
                err(f"input {t.name!r} asks for streaming but the model is not decoupled: add "
                    "model_transaction_policy { decoupled: True }", rf'"{t.name}"')
            if (cfg.HasField("dynamic_batching") and cfg.max_batch_size > 0 and _is_variable(t.dims)
                    and not t.allow_ragged_batch):
                err(f"input {t.name!r} has variable dims under dynamic batching without allow_ragged_batch: "
                    "requests of different lengths will not be batched together", rf'"{t.name}"', "warning")

        py = path.parent / "1" / "model.py"
        if cfg.backend == "python" and py.is_file():
            try:
                tensors, called, sender = _model_py_tensors(py)
            except SyntaxError as exc:
                problems.append(Problem(py, exc.lineno or 1, exc.offset or 1, f"model.py does not parse: {exc.msg}"))
                continue
            if sender and not decoupled:
                line, col = _locate(py.read_text(), r"get_response_sender")
                problems.append(Problem(py, line, col, "model.py uses a response sender but config.pbtxt is not "
                                        "decoupled: add model_transaction_policy { decoupled: True }"))
            if decoupled and not sender:
                err("decoupled model whose model.py never calls get_response_sender(): its requests would never "
                    "be answered", r"decoupled")
            declared = {o.name for o in cfg.output}
            targets = set(configs) | unparsed if called is None else called
            if unparsed & set(targets):
                continue
            other_inputs = {i.name for m in targets if m in configs for i in configs[m][2].input}
            for name, line, col in tensors:
                if name not in declared and name not in other_inputs:
                    problems.append(Problem(py, line, col, f"model.py returns output {name!r} that config.pbtxt "
                                            f"does not declare (declared: {', '.join(sorted(declared)) or 'none'}); "
                                            "Triton drops it without an error"))

        if cfg.platform == "ensemble":
            available = {i.name for i in cfg.input}
            if unparsed & {step.model_name for step in cfg.ensemble_scheduling.step}:
                continue
            for step in cfg.ensemble_scheduling.step:
                if step.model_name not in configs:
                    err(f"ensemble step model {step.model_name!r} is not in the repository",
                        rf'"{re.escape(step.model_name)}"')
                    continue
                step_cfg = configs[step.model_name][2]
                step_in, step_out = {i.name for i in step_cfg.input}, {o.name for o in step_cfg.output}
                if cfg.max_batch_size > step_cfg.max_batch_size:
                    err(f"ensemble max_batch_size {cfg.max_batch_size} exceeds step {step.model_name!r}'s "
                        f"{step_cfg.max_batch_size}", r"max_batch_size")
                for key, value in step.input_map.items():
                    if key not in step_in:
                        err(f"step {step.model_name!r} has no input {key!r}", rf'key:\s*"{re.escape(key)}"')
                    if value not in available:
                        err(f"ensemble tensor {value!r} is neither an ensemble input nor an earlier step's output",
                            rf'value:\s*"{re.escape(value)}"')
                for key, value in step.output_map.items():
                    if key not in step_out:
                        err(f"step {step.model_name!r} has no output {key!r}", rf'key:\s*"{re.escape(key)}"')
                    available.add(value)
            for o in cfg.output:
                if o.name not in available:
                    err(f"ensemble output {o.name!r} is produced by no step", rf'"{re.escape(o.name)}"')
    return sorted(problems, key=lambda p: (str(p.path), p.line, p.column))


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
