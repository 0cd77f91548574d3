#!/usr/bin/env bash
# The grader's non-root sandbox path can use bubblewrap (`nimlab grade` as an ordinary user); its test runs
# bwrap for real. Idempotent: installs only when /usr/bin/bwrap is missing.
set -euo pipefail
if [[ -x /usr/bin/bwrap ]]; then
  echo "[bubblewrap] present: $(/usr/bin/bwrap --version 2>/dev/null || echo bwrap)"
  exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache policy bubblewrap 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  $SUDO apt-get update -qq || { echo "error: apt-get update failed; fix: check the apt sources, then run: apt-get update && apt-get install -y bubblewrap"; exit 1; }
fi
$SUDO apt-get install -y -qq bubblewrap >/dev/null || {
  echo "error: could not install bubblewrap; fix: run 'apt-get update && apt-get install -y bubblewrap' as root"; exit 1; }
[[ -x /usr/bin/bwrap ]] || { echo "error: /usr/bin/bwrap still missing after install; fix: apt-get install -y --reinstall bubblewrap"; exit 1; }
echo "[bubblewrap] installed: $(/usr/bin/bwrap --version)"
