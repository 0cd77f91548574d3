#!/usr/bin/env bash
# Build the local base image for the lab's Dockerfiles from Debian packages, for machines that reach no image
# registry (our CI, air-gapped workshop rooms): debootstrap a minimal bookworm with Python 3.11, then `docker import`.
# The Dockerfiles' default base is the official python:3.11-slim-bookworm; pass this one as BASE_IMAGE instead.
# Cached: does nothing when the image exists and was made by this recipe (label nimlab.recipe). --force rebuilds.
#   usage: bash scripts/docker-base.sh [--force]        env: NIMLAB_BASE_IMAGE (default nimlab-base:bookworm)
set -euo pipefail
IMAGE=${NIMLAB_BASE_IMAGE:-nimlab-base:bookworm}
# the mirror this host's apt already uses (first URIs/deb line), unless DEBIAN_MIRROR says otherwise
MIRROR=${DEBIAN_MIRROR:-$( (grep -hm1 -oP '^URIs:\s*\K\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null ||
  grep -hm1 -oP '^deb\s+(\[[^]]*\]\s+)?\K\S+' /etc/apt/sources.list 2>/dev/null) | head -n 1)}
# python3-venv: the Dockerfiles install into a venv; libpython3.11: the Triton Python backend stub links it
INCLUDE=python3,python3-venv,libpython3.11,ca-certificates
RECIPE=$(printf '%s\n' "bookworm minbase $INCLUDE v1" | sha256sum | cut -c1-12)

command -v docker >/dev/null || { echo "error: docker CLI not found; fix: bash scripts/deps/30-docker.sh"; exit 1; }
have=$(docker image inspect -f '{{ index .Config.Labels "nimlab.recipe" }}' "$IMAGE" 2>/dev/null || true)
if [[ "$have" == "$RECIPE" && "${1:-}" != "--force" ]]; then
  echo "[base] $IMAGE up to date (recipe $RECIPE)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap not found; fix: apt-get install -y debootstrap"; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "error: debootstrap needs root; fix: run this script with sudo"; exit 1; }

ROOTFS=$(mktemp -d /tmp/nimlab-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "[base] debootstrap bookworm (minbase + $INCLUDE) into $ROOTFS (about a minute)"
t0=$SECONDS
debootstrap --variant=minbase --include="$INCLUDE" bookworm "$ROOTFS" ${MIRROR:+"$MIRROR"} > "$ROOTFS.log" 2>&1 || {
  echo "error: debootstrap failed (last line: $(tail -n 1 "$ROOTFS.log")); fix: check that the Debian mirror ${MIRROR:-(debootstrap default)} is reachable, or set DEBIAN_MIRROR"; exit 1; }
rm -f "$ROOTFS.log"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
echo "[base] debootstrap done in $((SECONDS - t0)) s; importing as $IMAGE"
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change "LABEL nimlab.recipe=$RECIPE" \
  --change 'CMD ["bash"]' - "$IMAGE" >/dev/null
echo "[base] $IMAGE ready ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'), $((SECONDS - t0)) s)"
