#!/usr/bin/env bash
# The lab's Docker images for the compose tests (tests marked `docker`), built offline: the local Debian base
# (scripts/docker-base.sh, cached) and nimlab/course-nim + nimlab/hand-built from compose/Dockerfile, with a
# wheelhouse filled from this machine's pip sources (compose/build.sh; cached layers make a rebuild seconds).
# Needs the engine from 30-docker.sh. Progress goes to the CI log; a failure stops the run with one line.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${NIMLAB_SKIP_DOCKER_IMAGES:-0}" == 1 ]]; then echo "[images] skipped (NIMLAB_SKIP_DOCKER_IMAGES=1)"; exit 0; fi
t0=$SECONDS
bash scripts/docker-base.sh
# this machine's extra CAs (its egress proxy's among them) go into the images through the CA hook, as a
# corporate proxy's would
certs=$(ls /usr/local/share/ca-certificates/*.crt 2>/dev/null | tr '\n' ' ' || true)
NIMLAB_EXTRA_CA_CERTS=${NIMLAB_EXTRA_CA_CERTS:-$certs} NIMLAB_BASE_IMAGE=${NIMLAB_BASE_IMAGE:-nimlab-base:bookworm} \
  NIMLAB_WHEELHOUSE=1 bash compose/build.sh
echo "[images] ready in $((SECONDS - t0)) s"
