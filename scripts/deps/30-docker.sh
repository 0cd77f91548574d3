#!/usr/bin/env bash
# A real Docker engine for the compose tests (tests marked `docker`): Debian's docker.io + debootstrap (for the
# local base image: scripts/docker-base.sh), and dockerd started in the background when nothing answers on the
# socket (no systemd on CI machines). Idempotent. If the engine cannot start, this fails with one line: the docker
# tests are part of the suite and are not skipped.
set -euo pipefail
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
LOG=${NIMLAB_DOCKERD_LOG:-/var/log/nimlab-dockerd.log}

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if ((${#need[@]})); then
  echo "[docker] installing ${need[*]} from Debian"
  if ! apt-cache policy docker.io 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $SUDO apt-get update -qq || { echo "error: apt-get update failed; fix: check the network/apt sources, then run: apt-get update && apt-get install -y docker.io debootstrap"; exit 1; }
  fi
  $SUDO apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null || {
    echo "error: could not install docker.io/debootstrap; fix: run 'apt-get update && apt-get install -y docker.io debootstrap' as root"; exit 1; }
fi

engine_up() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

if engine_up; then
  echo "[docker] engine running: $(docker info --format 'Docker {{.ServerVersion}}, {{.Driver}}' 2>/dev/null)"
  exit 0
fi
if [[ -S /var/run/docker.sock ]] && pgrep -x dockerd >/dev/null 2>&1; then
  echo "[docker] dockerd is starting; waiting"
else
  echo "[docker] starting dockerd in the background (log: $LOG)"
  # a stale pid file from a killed daemon stops a new one from starting
  if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then $SUDO rm -f /var/run/docker.pid; fi
  $SUDO setsid nohup dockerd --host=unix:///var/run/docker.sock >>"$LOG" 2>&1 < /dev/null &
fi
for _ in $(seq 1 120); do
  if engine_up; then
    echo "[docker] engine running: $(docker info --format 'Docker {{.ServerVersion}}, {{.Driver}}' 2>/dev/null)"
    exit 0
  fi
  sleep 0.5
done
echo "error: the Docker engine did not start within 60 s (last log line: $(tail -n 1 "$LOG" 2>/dev/null)); fix: read $LOG, or start it yourself with 'dockerd &' as root (systemd: 'systemctl start docker') and run again"
exit 1
