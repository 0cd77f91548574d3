#!/bin/sh
# Entry point of a learner's container (DockerSpawner runs it with jupyterhub-singleuser's arguments).
# 1. First start: seed the learner's work volume with the exercises and labs (never overwrites their work).
# 2. NIMLAB_WORKSHOP_NIM=per-learner: the learner's own course NIM on 127.0.0.1:8000 inside this container
#    (weights cache baked into the image, so it is ready in seconds); `shared` uses the room's NIM instead.
# 3. exec the single-user server, so docker stop reaches it directly (the container runs under tini).
set -eu
WORK="$HOME/work"
mkdir -p "$WORK"
for d in exercises labs; do
  [ -d "$WORK/$d" ] || cp -r "/opt/nimlab/seed/$d" "$WORK/$d"
done
if [ "${NIMLAB_WORKSHOP_NIM:-shared}" = "per-learner" ]; then
  nimlab serve --host 127.0.0.1 --port 8000 >"$HOME/.nim.log" 2>&1 &
fi
exec jupyterhub-singleuser "$@"
