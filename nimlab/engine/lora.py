"""The adapters the engine applies, per sequence, on one shared base model (peft multi-adapter LoRA).

peft's mixed-batch forward (`adapter_names=[...]`, "__base__" for plain rows) lets one decode step carry
base requests and requests for different adapters together, which is what NIM's in-flight multi-LoRA
does on a GPU. Each load gets its own internal peft name, so reloading a changed adapter never disturbs
sequences still running on the previous copy: a replaced or removed adapter is only unlisted, never
deleted from the model (a few MB each), so no running sequence can lose the weights it started with.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch


class AdapterSet:
    def __init__(self, base_model: Any) -> None:
        self._base = base_model
        self._peft: Any = None
        self._internal: dict[str, str] = {}  # served name -> peft adapter name
        self._counter = itertools.count()

    @property
    def model(self) -> Any:
        """What the engine calls: the peft wrapper once an adapter exists, else the plain model."""
        return self._peft if self._peft is not None else self._base

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._internal))

    def add(self, name: str, path: Path) -> None:
        """Load (or reload) one checked adapter folder under `name`. Call between engine steps."""
        from peft import PeftModel

        internal = f"lora{next(self._counter)}"
        if self._peft is None:
            self._peft = PeftModel.from_pretrained(self._base, str(path), adapter_name=internal, is_trainable=False)
        else:
            self._peft.load_adapter(str(path), adapter_name=internal, is_trainable=False)
        self._peft.eval()
        self._internal[name] = internal

    def remove(self, name: str) -> None:
        self._internal.pop(name, None)

    def forward_kwargs(self, internal_names: list[str | None]) -> dict[str, Any]:
        """The extra forward argument for a batch whose rows use these adapters (None = the base model)."""
        if self._peft is None:
            return {}
        return {"adapter_names": [a or BASE for a in internal_names]}

    def internal_name(self, name: str) -> str | None:
        return self._internal.get(name)
