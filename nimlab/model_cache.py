"""The shared model cache (NIM_CACHE_PATH), filled once before services that read it start.

It sits on the engine's floor (it loads the engine in a child) so that both the Triton launcher and the lab
launcher can call it without importing each other.
"""

from __future__ import annotations

import os
import subprocess
import sys

from nimlab.engine.weights import cache_filled, default_cache
from nimlab.errors import ServiceError


def prepare_model_cache(timeout: float = 300.0) -> None:
    """Fill the shared model cache once, before Triton starts: otherwise every Python model instance would
    parse the GGUF at the same time on the same cores. Runs in a child so its memory goes with it."""
    if cache_filled(default_cache()):  # torch-free check: a second start pays no torch import here
        return
    code = ("from nimlab.engine import load_model; from nimlab.engine.weights import default_cache; "
            "load_model('fp32', cache_dir=default_cache())")
    try:
        subprocess.run([sys.executable, "-c", code], check=True, timeout=timeout, capture_output=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        out = getattr(exc, "stderr", b"") or b""
        raise ServiceError(f"could not prepare the model cache: {out.decode(errors='replace')[-800:]}",
                           hint="run `bash scripts/setup.sh` again") from exc
