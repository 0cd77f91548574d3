#!/usr/bin/env bash
# Command 2: set up (if needed) and run the whole test suite, lint first. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
for dep in scripts/deps/*.sh; do
  [[ -e "$dep" ]] || continue
  echo "[test] $dep"
  bash "$dep"
done
echo "[test] ruff"
.venv/bin/ruff check nimlab tests bench
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"
