#!/usr/bin/env bash
# Install NVIDIA's aiperf (pinned) into its own virtual environment, .nimlab/aiperf-venv, apart from .venv:
# it brings ~1.2 GB of dependencies whose pins would clash with nimlab's. Used by bench/bench_aiperf.py.
# Idempotent: a second run only checks the installed version. `--force` reinstalls.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.13.0
VENV=${NIMLAB_AIPERF_VENV:-$PWD/.nimlab/aiperf-venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
fail() { echo "error: $1"; echo "  next: $2"; exit 1; }

installed() { "$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('aiperf'))" 2>/dev/null || true; }
if [[ "${1:-}" != "--force" && "$(installed)" == "$VERSION" && -x "$VENV/bin/aiperf" ]]; then
  echo "[aiperf-venv] aiperf $VERSION already installed ($VENV/bin/aiperf)"
  exit 0
fi

"$PY" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
  || fail "aiperf needs Python >= 3.10 (found: $("$PY" --version 2>&1))" "install Python 3.11 and run again"

echo "[aiperf-venv] 1/3 virtual environment at $VENV"
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV" || fail "could not create $VENV" "check disk space and that $PY has the venv module"

echo "[aiperf-venv] 2/3 pip install aiperf==$VERSION (about 1.2 GB; a minute or so)"
log=$(mktemp)
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off "aiperf==$VERSION" >"$log" 2>&1; then
  tail -5 "$log" | grep -v "^WARNING: Location" || true
  fail "pip install aiperf==$VERSION failed (full log: $log)" "fix the network/proxy and run scripts/aiperf-venv.sh --force"
fi
rm -f "$log"

echo "[aiperf-venv] 3/3 check"
[[ "$(installed)" == "$VERSION" ]] || fail "aiperf $VERSION is not importable in $VENV" "run scripts/aiperf-venv.sh --force"
"$VENV/bin/aiperf" --version >/dev/null 2>&1 || fail "$VENV/bin/aiperf does not run" "run scripts/aiperf-venv.sh --force"
echo "[aiperf-venv] done: $VENV/bin/aiperf ($VERSION)"
