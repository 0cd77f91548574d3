"""Workshop room benchmark: the course NIM shared per room vs one per learner, three learners at once.

For each placement a real room (JupyterHub + DockerSpawner, nimlab/workshop:0.1.0) is brought up and three
learners' containers are spawned together; each learner runs, in their own kernel, the lab's first cell and
then `nimlab bench` against *their* NIM URL, all three starting at the same instant. The rooms stay up side
by side and take turns, round after round, so a busy neighbour on the machine slows each alike; medians are
reported. Measured:

- hub start (room up: network, shared NIM if any, hub + proxy) and the spawn of three containers together;
- memory per container, sampled every second: idle after the first cell, and peak under load; the shared
  NIM's container separately. Resident memory (`docker top`: the processes' RSS) sizes the room: docker stats
  leaves page cache out, and the NIM's weights are memory-mapped from its cache file, so it shows half a
  model less; both are reported;
- throughput: each learner's output tokens/s (nimlab bench's own figure), and the room's: their sum, since
  the three runs start within a fraction of a second and last about as long (both spreads are reported);
- which profile each NIM selected (a per-learner NIM in a 1-CPU container falls back to the generic one).

    .venv/bin/python bench/bench_workshop.py [--rounds 3]   # ~12 min on 2 cores; prints a table, writes artifacts/bench/workshop.json

Needs the engine, images and hub (scripts/deps/30-docker.sh, 31-lab-images.sh, 32-hub.sh). Every room is
named nimlab-ws-bench-<random> and removed at the end, volumes included.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nimlab.lab.launch import free_port
from nimlab.workshop import room
from nimlab.workshop.cli import down, nim_cell, up
from nimlab.workshop.config import WorkshopConfig
from nimlab.workshop.learner import LearnerServer

LEARNERS = ("ann", "bob", "cat")

BENCH_CELL = """
import json, os, subprocess, time, urllib.request
base = os.environ["NIMLAB_NIM_URL"]
meta = json.load(urllib.request.urlopen(base.removesuffix("/v1") + "/v1/metadata", timeout=10))
time.sleep(max(0.0, {start_at} - time.time()))   # all learners start together
t0 = time.time()
run = subprocess.run(["nimlab", "bench", "--endpoint", "nim=" + base, "--concurrency", "{clients}",
                      "--requests-per-client", "{per_client}", "--max-tokens", "{tokens}", "--out", "/tmp/bench"],
                     capture_output=True, text=True)
t1 = time.time()
stats = json.load(open("/tmp/bench/bench.json"))["runs"][0]
print(json.dumps({{"t0": t0, "t1": t1, "rc": run.returncode, "profile": meta["selectedModelProfileName"],
                  "tok_s": stats["output_tokens_per_s"], "requests": stats["requests"], "errors": stats["errors"],
                  "ttft_p50_ms": stats["ttft_ms"]["p50"]}}))
"""


class Sampler:
    """Every second while running: the peak memory of each of the room's containers, both as docker stats
    shows it and as resident memory (which counts the NIM's memory-mapped weights)."""

    def __init__(self, cfg: WorkshopConfig) -> None:
        self.cfg, self.peak, self.peak_rss, self._stop = cfg, {}, {}, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for u in room.usage(self.cfg, resident=True):
                self.peak[u.name] = max(self.peak.get(u.name, 0.0), u.mem_mib)
                self.peak_rss[u.name] = max(self.peak_rss.get(u.name, 0.0), u.rss_mib)
            self._stop.wait(1.0)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Room:
    """One placement: a real room with three learners spawned and their first cell run."""

    def __init__(self, mode: str, cpus: float, mem: str, state: Path) -> None:
        self.cfg = WorkshopConfig(name=f"nimlab-ws-bench-{secrets.token_hex(3)}", nim_mode=mode, cpu_limit=cpus,
                                  mem_limit=mem, nim_cpu_limit=float(os.cpu_count() or 1), port=free_port(),
                                  learners=LEARNERS, state_dir=state)
        self.out: dict = {"mode": mode, "cpus_per_learner": cpus, "mem_limit": mem, "rounds": [], "peak_mib": {},
                          "peak_rss_mib": {}}

    def up(self) -> None:
        out = self.out
        t = time.monotonic()
        hub = up(self.cfg, emit=lambda line: None)
        out["up_s"] = time.monotonic() - t
        t = time.monotonic()
        with ThreadPoolExecutor(len(LEARNERS)) as pool:
            list(pool.map(hub.spawn, LEARNERS))
        out["spawn3_s"] = time.monotonic() - t
        self.servers = [LearnerServer(hub.url, n, hub.learner_token(n)) for n in LEARNERS]
        t = time.monotonic()
        with ThreadPoolExecutor(len(LEARNERS)) as pool:
            first = list(pool.map(lambda s: s.run(nim_cell(), timeout=300), self.servers))
        out["first_cell_s"] = time.monotonic() - t
        assert all("answer:" in c.stdout for c in first), [c.error or c.stdout for c in first]
        time.sleep(3)
        idle = room.usage(self.cfg, resident=True)
        out["idle_mib"] = {u.name: u.mem_mib for u in idle}
        out["idle_rss_mib"] = {u.name: u.rss_mib for u in idle}

    def round(self, clients: int, per_client: int, tokens: int) -> float:
        """All three learners run nimlab bench at the same instant; returns the room's tokens/s."""
        cell = BENCH_CELL.format(start_at=time.time() + 8, clients=clients, per_client=per_client, tokens=tokens)
        with Sampler(self.cfg) as sampler, ThreadPoolExecutor(len(LEARNERS)) as pool:
            results = list(pool.map(lambda s: s.run(cell, timeout=600), self.servers))
        for key, peaks in (("peak_mib", sampler.peak), ("peak_rss_mib", sampler.peak_rss)):
            for name, mib in peaks.items():
                self.out[key][name] = max(self.out[key].get(name, 0.0), mib)
        rows = [json.loads(r.stdout.strip().splitlines()[-1]) for r in results]
        # the three runs start together (synchronised on the wall clock) and last about as long, so the room's
        # rate is the sum of the learners' rates; the spreads say how well that held
        durations = [r["requests"] * tokens / r["tok_s"] for r in rows]
        self.out["rounds"].append({
            "learners": dict(zip(LEARNERS, rows, strict=True)), "room_tok_s": sum(r["tok_s"] for r in rows),
            "start_spread_s": max(r["t0"] for r in rows) - min(r["t0"] for r in rows),
            "duration_spread_pct": 100 * (max(durations) - min(durations)) / max(durations),
            "errors": sum(r["errors"] for r in rows)})
        return self.out["rounds"][-1]["room_tok_s"]

    def down(self) -> None:
        down(self.cfg, remove_volumes=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=2, help="concurrent clients per learner's nimlab bench")
    ap.add_argument("--per-client", type=int, default=4, help="requests per client")
    ap.add_argument("--tokens", type=int, default=32, help="output tokens per request")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (the median is reported)")
    ap.add_argument("--out", type=Path, default=Path("artifacts/bench/workshop.json"))
    args = ap.parse_args()
    setups = [("shared", 1.0, "1G"), ("per-learner", 2.0, "2G"), ("per-learner", 1.0, "2G")]
    with tempfile.TemporaryDirectory(prefix="nimlab-ws-bench-") as state:
        rooms = [Room(mode, cpus, mem, Path(state)) for mode, cpus, mem in setups]
        try:
            for r in rooms:  # one after another, so each start-up is timed alone
                print(f"[bench] {r.out['mode']} NIM, {r.out['cpus_per_learner']:g} CPU / {r.out['mem_limit']} "
                      "per learner: up, spawn 3, first cell ...", flush=True)
                r.up()
            for i in range(args.rounds):  # alternate, so a busy neighbour slows every placement alike
                for r in rooms:
                    tok_s = r.round(args.clients, args.per_client, args.tokens)
                    print(f"[bench] round {i + 1}: {r.out['mode']} {r.out['cpus_per_learner']:g} CPU "
                          f"-> {tok_s:.1f} tok/s", flush=True)
        finally:
            for r in rooms:
                r.down()
    results = [r.out for r in rooms]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"\n3 learners at once, each `nimlab bench` with {args.clients} clients x {args.per_client} requests x "
          f"{args.tokens} tokens; median of {args.rounds} alternating rounds; machine: {os.cpu_count()} CPUs\n")
    print("| NIM placement | learner limit | room up | spawn 3 | first cell | learner idle / peak MiB "
          "| shared NIM peak MiB | profile | tok/s per learner | room tok/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def learners(values: dict[str, float]) -> list[float]:
        return [v for k, v in values.items() if not k.endswith("-nim")]

    def nim(values: dict[str, float]) -> float:
        return max([v for k, v in values.items() if k.endswith("-nim")] or [0.0])

    for r in results:
        learner_idle, learner_peak = learners(r["idle_rss_mib"]), learners(r["peak_rss_mib"])
        nim_peak = nim(r["peak_rss_mib"])
        profiles = sorted({x["profile"].split("_")[1].split("-")[0] for rd in r["rounds"] for x in rd["learners"].values()})
        per = statistics.median(x["tok_s"] for rd in r["rounds"] for x in rd["learners"].values())
        room_rate = statistics.median(rd["room_tok_s"] for rd in r["rounds"])
        r["median_room_tok_s"], r["median_learner_tok_s"] = room_rate, per
        print(f"| {r['mode']} | {r['cpus_per_learner']:g} CPU, {r['mem_limit']} | {r['up_s']:.0f} s | "
              f"{r['spawn3_s']:.0f} s | {r['first_cell_s']:.0f} s | {max(learner_idle):.0f} / {max(learner_peak):.0f} | "
              f"{nim_peak:.0f} | {', '.join(profiles)} | {per:.1f} | {room_rate:.1f} |")
    print("\nMemory above is resident (the processes' RSS, memory-mapped weights included). docker stats, which "
          "leaves page cache out, showed (learner idle / peak, shared NIM peak, MiB):")
    for r in results:
        print(f"  {r['mode']} {r['cpus_per_learner']:g} CPU: {max(learners(r['idle_mib'])):.0f} / "
              f"{max(learners(r['peak_mib'])):.0f}, {nim(r['peak_mib']):.0f}")
    for r in results:
        rates = ", ".join(f"{rd['room_tok_s']:.1f}" for rd in r["rounds"])
        spread = max(rd["start_spread_s"] for rd in r["rounds"])
        dur = max(rd["duration_spread_pct"] for rd in r["rounds"])
        print(f"{r['mode']} {r['cpus_per_learner']:g} CPU: room tok/s by round {rates}; starts within {spread:.2f} s, "
              f"durations within {dur:.0f}%")
    args.out.write_text(json.dumps({"cpus": os.cpu_count(), "clients": args.clients, "per_client": args.per_client,
                                    "tokens": args.tokens, "rounds": args.rounds, "setups": results}, indent=2))
    if any(rd["errors"] for r in results for rd in r["rounds"]):
        print("errors in some requests: see the JSON")
        return 1
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
