#!/usr/bin/env bash
# The course site's browser test drives Debian's Chromium through Playwright (Playwright's own browser
# download cannot be used on machines without open internet). Idempotent: installs only what is missing.
set -euo pipefail
if [[ -x /usr/bin/chromium ]]; then
  echo "[browser] chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo '?')"
  exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# one `apt-get update` when the package lists do not know chromium yet
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  $SUDO apt-get update -qq || { echo "error: apt-get update failed; fix: check the network/apt sources, then run: apt-get update && apt-get install -y chromium chromium-driver"; exit 1; }
fi
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null || {
  echo "error: could not install chromium; fix: run 'apt-get update && apt-get install -y chromium chromium-driver' as root"; exit 1; }
[[ -x /usr/bin/chromium ]] || { echo "error: /usr/bin/chromium still missing after install; fix: apt-get install -y --reinstall chromium"; exit 1; }
echo "[browser] installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
