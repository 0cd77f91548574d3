"""The hand-built stack's Triton container: the real tritonserver on our rendered model repository.

Same launcher as `nimlab triton server` (nimlab.triton.launcher.triton_server), except that inside a container
Triton must listen on all interfaces for the published ports to reach it (`nimlab triton server` binds 127.0.0.1).
SIGTERM (docker stop, through tini) stops tritonserver gracefully (SIGINT, then SIGKILL of what remains).
Environment: TRITON_PRESET (tuned|untuned, default tuned), TRITON_SET ("knob=value,knob=value" overrides).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from nimlab.ports import PORTS
from nimlab.triton.launcher import TritonPorts, triton_server
from nimlab.triton.render import parse_overrides


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    preset = os.environ.get("TRITON_PRESET", "tuned")
    overrides = parse_overrides([s for s in os.environ.get("TRITON_SET", "").split(",") if s.strip()])
    ports = TritonPorts(PORTS["triton-http"], PORTS["triton-grpc"], PORTS["triton-metrics"])
    state = Path(os.environ.get("TRITON_STATE_DIR", "/tmp/nimlab-triton"))
    print(f"starting tritonserver (preset {preset}, overrides {overrides or 'none'}) on 0.0.0.0:"
          f"{ports.http}/{ports.grpc}/{ports.metrics}", flush=True)
    with triton_server(preset, overrides, ports=ports, state_dir=state, host="0.0.0.0", timeout=600) as triton:
        print(f"Triton ready: HTTP :{ports.http}  gRPC :{ports.grpc}  metrics :{ports.metrics}  "
              f"repository {triton.repository}  log {triton.log_path}", flush=True)
        seen = 0
        while triton.proc.poll() is None:
            lines = triton.log().splitlines()  # echo the server log to the container log (docker logs)
            for line in lines[seen:]:
                print(line, flush=True)
            seen = len(lines)
            time.sleep(1.0)
        print(f"tritonserver exited with status {triton.proc.returncode}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
