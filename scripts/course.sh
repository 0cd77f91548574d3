#!/usr/bin/env bash
# Command 1: set up (if needed) and start the course's embedded default, then print where to go.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/nimlab lab up "$@"
