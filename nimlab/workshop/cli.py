"""`nimlab workshop up|down|status|check|restart|collect|grade`: the instructor's command-line face."""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path

from nimlab.errors import ConfigError, ServiceError
from nimlab.workshop import collect as collecting
from nimlab.workshop import hub as hubs
from nimlab.workshop import labs as labruns
from nimlab.workshop import room
from nimlab.workshop.config import WorkshopConfig, secret
from nimlab.workshop.learner import LearnerServer

TOKEN_ENV, PASSWORD_ENV = "NIMLAB_WORKSHOP_ADMIN_TOKEN", "NIMLAB_WORKSHOP_PASSWORD"
ACTIONS = ["up", "down", "status", "check", "restart", "collect", "grade"]


def add_parser(sub: argparse._SubParsersAction, func) -> None:
    p = sub.add_parser("workshop", help="a multi-user room: JupyterHub, one container per learner, grading")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("learner", nargs="?", help="restart: whose server")
    p.add_argument("--name", default="nimlab-ws", help="room name: prefix of its containers, network, volumes")
    p.add_argument("--state-dir", type=Path, default=None, help="where rooms keep settings, log, secrets")
    g = p.add_argument_group("up")
    g.add_argument("--nim", dest="nim_mode", default="shared", help="shared (one NIM per room) or per-learner")
    g.add_argument("--mem", dest="mem_limit", default=None, help="memory per learner container (default by --nim)")
    g.add_argument("--cpus", dest="cpu_limit", type=float, default=1.0, help="CPUs per learner container")
    g.add_argument("--nim-mem", dest="nim_mem_limit", default="2G", help="shared NIM memory")
    g.add_argument("--nim-cpus", dest="nim_cpu_limit", type=float, default=None,
                   help="CPUs of each shared service: NIM, Triton (default: all)")
    g.add_argument("--no-triton", dest="triton", action="store_false",
                   help="no shared hand-built stack (Triton): labs 1 and 2 need it")
    g.add_argument("--triton-mem", dest="triton_mem_limit", default="3G", help="shared Triton memory")
    g.add_argument("--port", type=int, default=8010, help="the hub's public port (default 8010)")
    g.add_argument("--bind", default="127.0.0.1", help="address to serve learners on (0.0.0.0: the room's LAN)")
    g.add_argument("--learners", default="", help="roster: comma-separated names (default: anyone with the password)")
    g = p.add_argument_group("down / collect / grade")
    g.add_argument("--volumes", action="store_true", help="down: also delete the learners' work volumes")
    g.add_argument("-o", "--output", type=Path, default=None, help="collect: folder; grade: gradebook CSV")
    g.add_argument("-e", "--exercise", action="append", default=[], help="grade: only this exercise (repeatable)")
    g = p.add_argument_group("check")
    g.add_argument("--labs", default=None, help="check: also run these labs' notebooks in its container, e.g. 1,2,4,5")
    g = p.add_argument_group("status")
    g.add_argument("--json", action="store_true", help="status: one JSON object (hub, shared NIM, learners)")
    p.set_defaults(func=func)


def _default_state() -> Path:
    return WorkshopConfig().state_dir


def _load(args: argparse.Namespace) -> WorkshopConfig:
    saved = (args.state_dir or _default_state()) / args.name / "room.json"
    if not saved.is_file():
        raise ConfigError(f"no workshop room named {args.name!r} here ({saved} is missing)",
                          hint="start one: nimlab workshop up" + ("" if args.name == "nimlab-ws" else f" --name {args.name}"))
    return WorkshopConfig.from_json(saved.read_text())


def _port_free(bind: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((bind, port))
        except OSError as exc:
            raise ServiceError(f"port {port} on {bind} is taken ({exc.strerror})",
                               hint="choose another: nimlab workshop up --port <free port>") from exc


def up(cfg: WorkshopConfig, emit=print) -> hubs.Hub:
    """Network, shared NIM (if any), hub; learners on the roster created. Leaves the hub running."""
    began = time.monotonic()
    hubs.hub_binary()
    room.preflight(cfg)
    token = secret(cfg.room_dir, "admin_token", TOKEN_ENV, make=True)
    if hubs.running(cfg, token):
        raise ServiceError(f"room {cfg.name} is already up", hint=f"nimlab workshop status --name {cfg.name}")
    _port_free(cfg.bind, cfg.port)
    password = secret(cfg.room_dir, "password", PASSWORD_ENV, make=True)
    gateway = room.create_network(cfg)
    emit(f"[workshop] network {cfg.network} (hub listens on its gateway {gateway})")
    try:
        t = time.monotonic()
        if cfg.nim_mode == "shared":  # started first, waited for last: it loads while Triton loads
            room.start_shared_nim(cfg, wait=False)
        if cfg.triton:
            http, front = room.start_shared_triton(cfg)
            emit(f"[workshop] shared hand-built stack ready in {time.monotonic() - t:.1f} s (Triton {http}, "
                 f"OpenAI front end {front}; learners: {cfg.learner_env()['NIMLAB_TRITON_OPENAI_URL']})")
        if cfg.nim_mode == "shared":
            url = room.start_shared_nim(cfg)
            emit(f"[workshop] shared course NIM ready in {time.monotonic() - t:.1f} s ({url}; learners: {cfg.nim_url})")
        t = time.monotonic()
        hub = hubs.start(cfg, gateway, token, password)
        emit(f"[workshop] hub ready in {time.monotonic() - t:.1f} s")
        if cfg.learners:
            hub.add_learners(list(cfg.learners))
    except BaseException:
        hubs.stop(cfg)
        room.sweep(cfg, remove_volumes=False)
        raise
    emit(f"[workshop] room {cfg.name} up in {time.monotonic() - began:.1f} s\n"
         f"  learners open  {hub.url}/hub/login  (any name{' on the roster' if cfg.learners else ''}, password: {password})\n"
         f"  NIM placement  {cfg.nim_mode} ({cfg.nim_url}); per learner {cfg.mem_limit} RAM, {cfg.cpu_limit:g} CPU\n"
         f"  hand-built     {'shared Triton (labs 1, 2)' if cfg.triton else 'none (--no-triton): labs 1 and 2 cannot run'}\n"
         f"  admin token    {cfg.room_dir / 'admin_token'}  (or ${TOKEN_ENV})\n"
         f"  stop           nimlab workshop down{'' if cfg.name == 'nimlab-ws' else ' --name ' + cfg.name}")
    return hub


def down(cfg: WorkshopConfig, remove_volumes: bool = False) -> list[str]:
    """Hub (it stops the learners' servers and the proxy), then whatever of the room is left in Docker."""
    stopped = hubs.stop(cfg)
    return stopped + room.sweep(cfg, remove_volumes=remove_volumes)


def _hub(cfg: WorkshopConfig) -> hubs.Hub:
    hub = hubs.running(cfg, secret(cfg.room_dir, "admin_token", TOKEN_ENV, make=False))
    if hub is None:
        raise ServiceError(f"room {cfg.name}'s hub is not running", hint="nimlab workshop up")
    return hub


def check(cfg: WorkshopConfig, emit=print, labs: list[str] | None = None) -> float:
    """Preflight on the real path: a throwaway learner logs in, gets a container, runs a cell that asks the
    course NIM a question (and, with `labs`, those lab notebooks unchanged with nbclient in that container),
    and is removed again. Returns the seconds it took."""
    stems = labruns.stems(labs or [])
    hub = _hub(cfg)
    name = "preflight"
    began = time.monotonic()
    hub.add_learners([name])
    try:
        hub.spawn(name, timeout=cfg.start_timeout)
        emit(f"[check] {name}'s container ready in {time.monotonic() - began:.1f} s")
        server = LearnerServer(hub.url, name, hub.learner_token(name))
        cell = server.run(nim_cell(), timeout=180)
        if cell.error or "answer:" not in cell.stdout:
            raise ServiceError(f"the check cell failed: {cell.error or cell.stdout[-200:]}",
                               hint=f"nimlab workshop status --name {cfg.name}; docker logs {cfg.name}-{name}")
        emit(f"[check] cell ran in {cell.seconds:.1f} s: {cell.stdout.strip().splitlines()[-1]}")
        failed = []
        for run in labruns.run_in_container(f"{cfg.name}-{name}", stems) if stems else []:
            emit(f"[check] lab {run.lab}: {'ran' if run.ok else 'FAILED'} in {run.seconds:.0f} s"
                 + ("" if run.ok else f": {run.error}"))
            failed += [] if run.ok else [run.lab]
        if failed:
            raise ServiceError(f"lab(s) {', '.join(failed)} failed in {name}'s container",
                               hint="read the lab's page in docs/instructor/workshop.md (which labs a room runs)")
    finally:
        try:
            hub.stop_server(name)
        finally:
            hub.api("DELETE", f"/users/{name}")
            room.docker("volume", "rm", "-f", cfg.volume_prefix + name, check=False)
    return time.monotonic() - began


def nim_cell(question: str = "What is the capital of France?", max_tokens: int = 16) -> str:
    """The lab cell every learner's first lab starts with: the OpenAI SDK against the course NIM, waiting
    for it to be ready first (a per-learner NIM starts beside the server)."""
    return f"""
import os, time, urllib.request
from openai import OpenAI
base = os.environ["NIMLAB_NIM_URL"]
for _ in range(240):
    try:
        if urllib.request.urlopen(base.removesuffix("/v1") + "/v1/health/ready", timeout=2).status == 200:
            break
    except OSError:
        time.sleep(0.5)
client = OpenAI(base_url=base, api_key="not-needed-locally")
reply = client.chat.completions.create(model="HuggingFaceTB/SmolLM2-135M-Instruct", temperature=0,
    max_tokens={max_tokens}, messages=[{{"role": "user", "content": {question!r}}}])
print("answer:", reply.choices[0].message.content.strip().replace("\\n", " "))
"""


def status_data(cfg: WorkshopConfig) -> dict:
    """The room as data: hub, shared NIM and each learner's server with its memory and CPU (`status --json`)."""
    token = secret(cfg.room_dir, "admin_token", TOKEN_ENV, make=False)
    hub = hubs.running(cfg, token)
    # resident memory: the NIM's memory-mapped weights count (docker stats files them under page cache)
    stats = {u.name: u for u in room.usage(cfg, resident=True)}

    def use(name: str) -> dict | None:
        u = stats.get(name)
        return {"rss_mib": round(u.rss_mib, 1), "cpu_pct": round(u.cpu_pct, 1)} if u else None

    learners = []
    for user in hub.learners() if hub else []:
        server = user.get("servers", {}).get("", {})
        state = "ready" if server.get("ready") else "starting" if server.get("pending") else "stopped"
        learners.append({"name": user["name"], "state": state, "usage": use(f"{cfg.name}-{user['name']}")})
    return {"room": cfg.name, "hub": {"up": hub is not None, "url": hub.url if hub else None},
            "nim": {"mode": cfg.nim_mode, "url": cfg.nim_url, "usage": use(cfg.nim_container)},
            "triton": {"shared": cfg.triton, "usage": use(cfg.triton_container),
                       "frontend_usage": use(cfg.frontend_container)},
            "per_learner": {"mem_limit": cfg.mem_limit, "cpu_limit": cfg.cpu_limit}, "learners": learners}


def status(cfg: WorkshopConfig, data: dict | None = None) -> str:
    data = data or status_data(cfg)
    hub = data["hub"]
    lines = [f"room {cfg.name}: hub {'up at ' + hub['url'] if hub['up'] else 'DOWN'}; NIM {cfg.nim_mode}; "
             f"per learner {cfg.mem_limit} / {cfg.cpu_limit:g} CPU"]
    if data["nim"]["usage"]:
        u = data["nim"]["usage"]
        lines.append(f"  {'(shared NIM)':16} running  {u['rss_mib']:7.0f} MiB  {u['cpu_pct']:5.1f}% CPU")
    for label, key in (("(shared Triton)", "usage"), ("(Triton OpenAI)", "frontend_usage")):
        u = data.get("triton", {}).get(key)
        if u:
            lines.append(f"  {label:16} running  {u['rss_mib']:7.0f} MiB  {u['cpu_pct']:5.1f}% CPU")
    for learner in data["learners"]:
        u = learner["usage"]
        use = f"{u['rss_mib']:7.0f} MiB  {u['cpu_pct']:5.1f}% CPU" if u else ""
        lines.append(f"  {learner['name']:16} {learner['state']:8} {use}".rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.action == "up":
        mem = args.mem_limit or ("1G" if args.nim_mode == "shared" else "2G")
        nim_cpus = args.nim_cpu_limit if args.nim_cpu_limit is not None else float(os.cpu_count() or 1)
        cfg = WorkshopConfig(name=args.name, nim_mode=args.nim_mode, mem_limit=mem, cpu_limit=args.cpu_limit,
                             nim_mem_limit=args.nim_mem_limit, nim_cpu_limit=nim_cpus, port=args.port,
                             triton=args.triton, triton_mem_limit=args.triton_mem_limit,
                             bind=args.bind, learners=tuple(n.strip() for n in args.learners.split(",") if n.strip()),
                             **({"state_dir": args.state_dir} if args.state_dir else {}))
        up(cfg)
        return 0
    cfg = _load(args)
    if args.action == "down":
        gone = down(cfg, remove_volumes=args.volumes)
        print("stopped/removed: " + (", ".join(gone) if gone else "nothing was running"))
        if not args.volumes and room.volumes(cfg):
            print(f"  kept {len(room.volumes(cfg))} learner volumes (their work); delete with --volumes")
    elif args.action == "status":
        data = status_data(cfg)
        if args.json:
            print(json.dumps(data, indent=2))
            return 0 if data["hub"]["up"] else 1
        print(status(cfg, data))
        print(hubs.tail(cfg, 5))
    elif args.action == "check":
        check(cfg, labs=[x.strip() for x in (args.labs or "").split(",") if x.strip()])
    elif args.action == "restart":
        if not args.learner:
            raise ConfigError("restart needs a learner name", hint="nimlab workshop restart <name>")
        hub = _hub(cfg)
        if hub.api("GET", f"/users/{args.learner}").json().get("servers"):
            hub.stop_server(args.learner)
        hub.spawn(args.learner, timeout=cfg.start_timeout)
        print(f"{args.learner}: fresh container, same work volume ({cfg.volume_prefix}{args.learner})")
    elif args.action == "collect":
        out = args.output or cfg.room_dir / "submissions"
        for c in collecting.collect(cfg, out):
            print(f"  {c.learner:16} {c.files:4} files  {c.note}")
        print(f"collected into {out} (grade: nimlab grade {out} --csv gradebook.csv)")
    elif args.action == "grade":
        out = cfg.room_dir / "submissions"
        collecting.collect(cfg, out)
        gradebook = args.output or cfg.room_dir / "gradebook.csv"
        rows = collecting.grade(out, gradebook, [a for e in args.exercise for a in ("-e", e)])
        for r in rows:
            print(f"  {r['submission']:16} {r['total']:>6} / {r['max_total']}")
        print(f"gradebook: {gradebook}")
    return 0
