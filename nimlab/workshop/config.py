"""A workshop room's settings: checked here, once, so a bad value fails in one line before anything starts.

The hub never sees this module: `settings()` is written to a JSON file that workshop/jupyterhub_config.py
reads (the hub runs in its own venv without nimlab). Secrets (admin token, shared password) stay out of it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nimlab.errors import ConfigError

NIM_MODES = ("shared", "per-learner")
IMAGE = "nimlab/workshop:0.1.0"
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_LEARNER = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
_MEM = re.compile(r"^[1-9][0-9]*(\.[0-9]+)?[kKmMgG]$")
PASSWORD_MIN = 8  # SharedPasswordAuthenticator refuses shorter ones


def repo_root() -> Path:
    """The checkout: the hub's config file, venv and proxy live there (scripts/deps/32-hub.sh)."""
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WorkshopConfig:
    """One room. `name` prefixes every container, network and volume it creates, so `down` removes exactly
    those and two rooms (or a test beside a real room) never touch each other's."""

    name: str = "nimlab-ws"
    nim_mode: str = "shared"
    mem_limit: str = "1G"  # per learner container (per-learner mode needs the NIM's share too)
    cpu_limit: float = 1.0
    nim_mem_limit: str = "2G"  # the shared NIM's container
    nim_cpu_limit: float = 2.0
    triton: bool = True  # the hand-built stack (Triton + its OpenAI front end), shared like the NIM: labs 1-3
    triton_mem_limit: str = "3G"  # the Triton container (its model instances each hold the weights)
    bind: str = "127.0.0.1"
    port: int = 8010
    learners: tuple[str, ...] = ()
    image: str = IMAGE
    state_dir: Path = field(default_factory=lambda: repo_root() / ".nimlab" / "workshop")
    start_timeout: int = 180

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"workshop name {self.name!r} is not usable as a Docker name prefix",
                              hint="use 2-40 lowercase letters, digits and '-', starting with a letter")
        if self.nim_mode not in NIM_MODES:
            raise ConfigError(f"--nim {self.nim_mode!r} is not a NIM placement",
                              hint="use --nim shared (one NIM per room) or --nim per-learner (one in each container)")
        for flag, value in (("--mem", self.mem_limit), ("--nim-mem", self.nim_mem_limit),
                            ("--triton-mem", self.triton_mem_limit)):
            if not _MEM.match(value):
                raise ConfigError(f"{flag} {value!r} is not a memory size", hint=f"write it like 1G or 768M, e.g. {flag} 1G")
        cpus = os.cpu_count() or 1
        for flag, value in (("--cpus", self.cpu_limit), ("--nim-cpus", self.nim_cpu_limit)):
            if not 0 < value <= cpus:
                raise ConfigError(f"{flag} {value} is outside what this machine has (1..{cpus} CPUs)",
                                  hint=f"give a number of CPUs between 0.1 and {cpus}, e.g. {flag} 1")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} is not a TCP port", hint="use a free port: --port 8010")
        bad = [n for n in self.learners if not _LEARNER.match(n)]
        if bad:
            raise ConfigError(f"learner names {', '.join(map(repr, bad))} are not usable",
                              hint="use lowercase letters, digits, '.', '_' or '-', starting with a letter (max 32)")

    @property
    def network(self) -> str:
        return f"{self.name}-net"

    @property
    def nim_container(self) -> str:
        return f"{self.name}-nim"

    @property
    def triton_container(self) -> str:
        return f"{self.name}-triton"

    @property
    def frontend_container(self) -> str:
        return f"{self.name}-triton-openai"

    @property
    def volume_prefix(self) -> str:
        return f"{self.name}-work-"

    @property
    def room_dir(self) -> Path:
        return self.state_dir / self.name

    @property
    def nim_url(self) -> str:
        """What a learner's code uses: the room's NIM by its network alias, or its own on loopback."""
        return "http://nim:8000/v1" if self.nim_mode == "shared" else "http://127.0.0.1:8000/v1"

    def learner_env(self) -> dict[str, str]:
        """Where a learner's code finds the room's services: the variables nimlab.labkit reads after the
        explicit ones (NIM_URL, TRITON_OPENAI_URL, TRITON_HTTP_URL stay free for a learner to override),
        plus OPENAI_BASE_URL for code that uses the OpenAI SDK bare."""
        env = {"NIMLAB_WORKSHOP_NIM": self.nim_mode, "NIMLAB_NIM_URL": self.nim_url, "OPENAI_BASE_URL": self.nim_url}
        if self.triton:
            env |= {"NIMLAB_TRITON_OPENAI_URL": "http://triton-openai:9000/v1",
                    "NIMLAB_TRITON_HTTP_URL": "http://triton:8001"}
        return env

    def settings(self, hub_ip: str, hub_port: int, proxy_api_port: int) -> dict:
        """The JSON the hub's config file reads (workshop/jupyterhub_config.py)."""
        proxy = repo_root() / ".hub" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
        return {
            "name": self.name, "state_dir": str(self.room_dir), "bind": self.bind, "port": self.port,
            "hub_ip": hub_ip, "hub_port": hub_port, "proxy_api_port": proxy_api_port,
            "proxy_command": str(proxy), "network": self.network, "image": self.image,
            "nim_mode": self.nim_mode, "nim_url": self.nim_url, "environment": self.learner_env(),
            "mem_limit": self.mem_limit,
            "cpu_limit": self.cpu_limit, "learners": list(self.learners),
            "volume_template": self.volume_prefix + "{username}", "start_timeout": self.start_timeout,
        }

    def to_json(self) -> str:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        data["learners"] = list(self.learners)
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> WorkshopConfig:
        data = json.loads(text)
        data["state_dir"] = Path(data["state_dir"])
        data["learners"] = tuple(data["learners"])
        return cls(**data)


def secret(room_dir: Path, name: str, env: str, make: bool) -> str:
    """The admin token / shared password: from the environment if set, else kept in the room's folder (0600)
    so `down`, `collect` and `status` find it again. `make` creates one when neither exists."""
    given = os.environ.get(env, "").strip()
    path = room_dir / name
    if given:
        value = given
    elif path.is_file():
        return path.read_text().strip()
    elif make:
        value = secrets.token_hex(32) if name == "admin_token" else "-".join(secrets.token_hex(3) for _ in range(3))
    else:
        raise ConfigError(f"no {name.replace('_', ' ')} for this room (neither ${env} nor {path})",
                          hint="start the room first: nimlab workshop up")
    if name == "password" and len(value) < PASSWORD_MIN:
        raise ConfigError(f"${env} is {len(value)} characters; the hub needs at least {PASSWORD_MIN}",
                          hint=f"export {env}=<a longer shared password>")
    room_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
