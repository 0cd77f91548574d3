"""Acting as one learner on their own server, through the hub's proxy: save a file (as JupyterLab does, via
the contents API) and run a cell in a kernel (the Jupyter messaging protocol over the kernel websocket).

Used by `nimlab workshop check`, the workshop tests and bench/bench_workshop.py: what they exercise is the
path a learner's browser takes — proxy, single-user server, kernel — not a shortcut into the container.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from nimlab.errors import ServiceError


@dataclass
class CellResult:
    """What a cell printed and returned; `error` holds 'Name: value' when it raised."""

    stdout: str = ""
    result: str = ""
    error: str = ""
    seconds: float = 0.0
    outputs: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class LearnerServer:
    hub_url: str  # http://127.0.0.1:PORT, the proxy's public side
    name: str
    token: str  # the learner's own API token

    @property
    def base(self) -> str:
        return f"{self.hub_url}/user/{self.name}"

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        r = httpx.request(method, f"{self.base}/api{path}", headers={"Authorization": f"token {self.token}"},
                          timeout=60, **kwargs)
        if r.status_code >= 400:
            raise ServiceError(f"{self.name}'s server: {method} {path} -> {r.status_code} {r.text[:200]}",
                               hint=f"nimlab workshop status; then restart it: nimlab workshop restart {self.name}")
        return r

    def save(self, path: str, text: str) -> None:
        """Save a text file in the learner's work folder, as JupyterLab's editor does."""
        self._call("PUT", f"/contents/{path}", json={"type": "file", "format": "text", "content": text})

    def read(self, path: str) -> str:
        return self._call("GET", f"/contents/{path}", params={"content": 1, "format": "text"}).json()["content"]

    def run(self, code: str, timeout: float = 120.0) -> CellResult:
        """Run one cell in a fresh kernel and return its outputs; the kernel is shut down afterwards."""
        kernel = self._call("POST", "/kernels", json={"name": "python3"}).json()["id"]
        try:
            return self._execute(kernel, code, timeout)
        finally:
            self._call("DELETE", f"/kernels/{kernel}")

    def _execute(self, kernel: str, code: str, timeout: float) -> CellResult:
        ws_url = self.base.replace("http://", "ws://", 1) + f"/api/kernels/{kernel}/channels"
        msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
        request = {
            "header": {"msg_id": msg_id, "username": self.name, "session": session, "msg_type": "execute_request",
                       "version": "5.3", "date": datetime.now(UTC).isoformat()},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }
        out = CellResult()
        began = time.monotonic()
        # imported here: the lab image installs only the services' pins, and every `nimlab` command loads this
        # module's parent to register `nimlab workshop`
        from websockets.sync.client import connect

        with connect(ws_url, additional_headers={"Authorization": f"token {self.token}"},
                     open_timeout=30, max_size=2**24) as ws:
            ws.send(json.dumps(request))
            replied = idle = False
            while not (replied and idle):
                left = timeout - (time.monotonic() - began)
                if left <= 0:
                    raise ServiceError(f"{self.name}'s cell did not finish within {timeout:g} s",
                                       hint=f"interrupt or restart the kernel in JupyterLab ({self.base}/lab)")
                try:
                    msg = json.loads(ws.recv(timeout=left))
                except TimeoutError:
                    continue
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream" and content.get("name") == "stdout":
                    out.stdout += content["text"]
                elif kind in ("execute_result", "display_data"):
                    out.outputs.append(content)
                    if kind == "execute_result":
                        out.result = content["data"].get("text/plain", "")
                elif kind == "error":
                    out.error = f"{content['ename']}: {content['evalue']}"
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
        out.seconds = time.monotonic() - began
        return out
