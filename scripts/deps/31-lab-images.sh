#!/usr/bin/env bash
# The lab's Docker images for the compose tests (tests marked `docker`), built offline: the local Debian base
# (scripts/docker-base.sh, cached) and nimlab/course-nim + nimlab/hand-built from compose/Dockerfile, with a
# wheelhouse filled from this machine's pip sources (compose/build.sh; cached layers make a rebuild seconds).
# Needs the engine from 30-docker.sh. Progress goes to the CI log; a failure stops the run with one line.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${NIMLAB_SKIP_DOCKER_IMAGES:-0}" == 1 ]]; then echo "[images] skipped (NIMLAB_SKIP_DOCKER_IMAGES=1)"; exit 0; fi
t0=$SECONDS
# The wheels compose/build.sh downloads into compose/wheelhouse are also kept in ~/.cache/nimlab/wheelhouse, under
# a key of requirements.txt and compose/build.sh, so a clean clone on this machine hard-links them from there
# instead of resolving and downloading them again (~15 s); a changed key fills the wheelhouse as before.
WH=compose/wheelhouse
KEPT=${NIMLAB_WHEEL_CACHE:-$HOME/.cache/nimlab/wheelhouse}
key=$(cat requirements.txt compose/build.sh | sha256sum | cut -c1-16)
# hard links for the wheels (never written in place); the stamp is copied, as build.sh rewrites it
link_wheels() { { cp -l "$1"/*.whl "$2"/ 2>/dev/null || cp "$1"/*.whl "$2"/; } && cp "$1/.stamp" "$2/.stamp"; }
if ! ls "$WH"/*.whl >/dev/null 2>&1 && [[ "$(cat "$KEPT/.key" 2>/dev/null)" == "$key" ]]; then
  link_wheels "$KEPT" "$WH" && echo "[images] wheelhouse taken from $KEPT ($(ls "$WH"/*.whl | wc -l) wheels)"
fi
bash scripts/docker-base.sh
# this machine's extra CAs (its egress proxy's among them) go into the images through the CA hook, as a
# corporate proxy's would
certs=$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null | tr '\n' ' ' || true)
NIMLAB_EXTRA_CA_CERTS=${NIMLAB_EXTRA_CA_CERTS:-$certs} NIMLAB_BASE_IMAGE=${NIMLAB_BASE_IMAGE:-nimlab-base:bookworm} \
  NIMLAB_WHEELHOUSE=1 bash compose/build.sh
if [[ "$(cat "$KEPT/.key" 2>/dev/null)" != "$key" ]] && ls "$WH"/*.whl >/dev/null 2>&1; then
  mkdir -p "$(dirname "$KEPT")" && tmp=$(mktemp -d "$KEPT.XXXXXX") && link_wheels "$WH" "$tmp" && echo "$key" > "$tmp/.key" \
    && rm -rf "$KEPT" && mv "$tmp" "$KEPT" && echo "[images] wheelhouse kept in $KEPT for the next clone" \
    || echo "[images] note: could not keep the wheelhouse in $KEPT (a clean clone will download it again)"
fi
echo "[images] ready in $((SECONDS - t0)) s"
