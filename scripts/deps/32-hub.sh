#!/usr/bin/env bash
# The multi-user workshop (tests marked `docker`; `nimlab workshop`): JupyterHub + DockerSpawner in their own venv
# (.hub/venv, pins: workshop/requirements-hub.txt), the hub's proxy configurable-http-proxy from npm
# (.hub/proxy, pins: workshop/proxy/package-lock.json; Node.js from Debian when the machine has none), and the
# learner image nimlab/workshop:0.1.0 (workshop/Dockerfile, FROM the course NIM image of 31-lab-images.sh; its
# layers are cached, so a rebuild after a code change takes seconds). Idempotent; fails with one line.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
t0=$SECONDS
HUB=.hub
PY=${NIMLAB_PYTHON311:-python3.11}

want=$(cat workshop/requirements-hub.txt workshop/proxy/package-lock.json | sha256sum | cut -c1-16)
if [[ -f $HUB/.stamp && "$(cat $HUB/.stamp)" == "$want" && -x $HUB/venv/bin/jupyterhub \
      && -x $HUB/proxy/node_modules/.bin/configurable-http-proxy ]]; then
  echo "[hub] JupyterHub $($HUB/venv/bin/jupyterhub --version) and its proxy up to date in $HUB/"
else
  if ! command -v npm >/dev/null 2>&1; then
    echo "[hub] installing nodejs + npm from Debian"
    if ! apt-cache policy npm 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      $SUDO apt-get update -qq || { echo "error: apt-get update failed; fix: check the network/apt sources, then run: apt-get install -y nodejs npm"; exit 1; }
    fi
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || {
      echo "error: could not install nodejs/npm; fix: run 'apt-get update && apt-get install -y nodejs npm' as root"; exit 1; }
  fi
  command -v "$PY" >/dev/null || { echo "error: $PY not found; fix: install Python 3.11 or set NIMLAB_PYTHON311"; exit 1; }
  echo "[hub] installing JupyterHub + DockerSpawner into $HUB/venv (pinned: workshop/requirements-hub.txt)"
  mkdir -p $HUB
  [[ -x $HUB/venv/bin/python ]] || "$PY" -m venv $HUB/venv
  # the pins' wheels are kept in ~/.cache/nimlab/hub-wheels under the pins' hash: a clean clone on this machine
  # installs from them with no index to resolve against (7 s instead of ~20 s); changed pins download them again
  KEPT=${NIMLAB_HUB_WHEELS:-$HOME/.cache/nimlab/hub-wheels}
  key=$(sha256sum workshop/requirements-hub.txt | cut -c1-16)
  : > $HUB/pip.log
  if [[ "$(cat "$KEPT/.key" 2>/dev/null)" != "$key" ]]; then
    mkdir -p "$(dirname "$KEPT")"
    tmp=$(mktemp -d "$KEPT.XXXXXX")
    $HUB/venv/bin/pip download -q --disable-pip-version-check -d "$tmp" -r workshop/requirements-hub.txt >> $HUB/pip.log 2>&1 || {
      rm -rf "$tmp"; echo "error: pip could not download the hub's pins (last line: $(tail -n 1 $HUB/pip.log)); fix: see $HUB/pip.log"; exit 1; }
    echo "$key" > "$tmp/.key"
    rm -rf "$KEPT" && mv "$tmp" "$KEPT"
  fi
  $HUB/venv/bin/pip install -q --disable-pip-version-check --no-index --find-links "$KEPT" -r workshop/requirements-hub.txt >> $HUB/pip.log 2>&1 || {
    echo "error: pip could not install the hub's pins from $KEPT (last line: $(tail -n 1 $HUB/pip.log)); fix: see $HUB/pip.log, or rm -r $KEPT and run again"; exit 1; }
  echo "[hub] installing configurable-http-proxy into $HUB/proxy (npm ci, pinned: workshop/proxy/package-lock.json)"
  mkdir -p $HUB/proxy
  cp workshop/proxy/package.json workshop/proxy/package-lock.json $HUB/proxy/
  (cd $HUB/proxy && npm ci --no-audit --no-fund --loglevel=error > ../npm.log 2>&1) || {
    echo "error: npm ci failed (last line: $(tail -n 1 $HUB/npm.log)); fix: see $HUB/npm.log"; exit 1; }
  echo "$want" > $HUB/.stamp
  echo "[hub] JupyterHub $($HUB/venv/bin/jupyterhub --version), proxy $($HUB/proxy/node_modules/.bin/configurable-http-proxy --version) ($((SECONDS - t0)) s)"
fi

if [[ "${NIMLAB_SKIP_DOCKER_IMAGES:-0}" == 1 ]]; then echo "[hub] learner image skipped (NIMLAB_SKIP_DOCKER_IMAGES=1)"; exit 0; fi
docker image inspect nimlab/course-nim:0.1.0 >/dev/null 2>&1 || {
  echo "error: nimlab/course-nim:0.1.0 is missing; fix: bash scripts/deps/31-lab-images.sh first"; exit 1; }
# BuildKit (honours workshop/Dockerfile.dockerignore): the buildx plugin, or Debian's docker.io client built-in
if docker buildx version >/dev/null 2>&1; then DOCKER=docker; else DOCKER=/usr/bin/docker; fi
t1=$SECONDS
echo "[hub] learner image nimlab/workshop:0.1.0 (workshop/Dockerfile)"
DOCKER_BUILDKIT=1 $DOCKER build --progress plain -f workshop/Dockerfile -t nimlab/workshop:0.1.0 . > $HUB/build.log 2>&1 || {
  echo "error: building nimlab/workshop:0.1.0 failed (last line: $(tail -n 1 $HUB/build.log)); fix: see $HUB/build.log"; exit 1; }
echo "[hub] nimlab/workshop:0.1.0 ready in $((SECONDS - t1)) s ($(docker image ls --format '{{.Size}}' nimlab/workshop:0.1.0))"
