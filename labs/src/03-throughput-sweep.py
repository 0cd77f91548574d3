# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 3 — Is it a wash? A side-by-side throughput sweep
#
# The lessons argue that when the model is a catalogue model and the GPU is a mainstream one, your own tuned
# stack and a NIM end up at about the same tokens per second, which moves the decision away from speed and
# onto money and who holds the knobs. Here you measure it: the same
# load against the NIM and the tuned hand-built stack, then against a hand-built stack whose knobs were never
# turned (one instance, no dynamic batching, `batching_strategy: V1`, which switches in-flight batching off, with
# a batch cap of one, and the engine's default fp32 precision).
#
# **Read this before you trust the result.** On this course stack the wash holds largely *by construction*:
# the Triton model repository's Python backend calls the same engine code (`nimlab/engine/`) that the course
# NIM runs, so a tuned Triton can differ from the NIM only in scheduling, batching settings and front-end
# overhead, not in kernels. Real deployments were in the same position only in **NIM 1.x**, where NIM's
# optimized profiles and a hand-built stack both ran TensorRT-LLM. **NIM 2.x runs vLLM (or SGLang) inside the
# container**, so on a GPU a 2.x NIM against your TensorRT-LLM + Triton build compares two different engines,
# and the wash has to be measured, not assumed. Precision matters the same way: the tuned Triton model here is
# built int8, like the course NIM's optimized profile (the `precision` parameter in its `config.pbtxt`). Build it
# fp32 instead, or compare an FP8 NIM with a BF16 engine of your own on an H100, and part of any gap is the
# precision, not the packaging: compare like with like, or say which you compared.
#
# **Needs:** both stacks up (`nimlab lab up`). The untuned stack is started by this notebook (course stack
# only; on the GPU stack set `TRITON_UNTUNED_URL` to a Triton started with the untuned configuration).
# Each point is measured in two rounds that alternate the stacks, with several requests per client, so a
# busy neighbour slows every stack alike and you can see how far one round strays from the other. About
# three to four minutes on two cores; `nimlab bench` runs bigger sweeps.
#
# **In a workshop room (`nimlab workshop`): not offered.** The untuned stack this sweep starts would be a
# second tritonserver, with its own model instances and front end, in every learner's container, and the sweep
# keeps two cores busy for minutes against the room's shared NIM and Triton: it would slow every other
# learner's labs while its rounds measured their load. Run it on your own machine (`nimlab lab up`).

# %%
import os

import matplotlib.pyplot as plt

from nimlab import labkit

NIM, TUNED = labkit.nim_url(), labkit.triton_url()
LEVELS = (1, 4)
MAX_TOKENS = 24
REQUESTS_PER_CLIENT = 4  # requests per point = 4 x concurrency (4 at one client, 16 at four); was 1 per client
ROUNDS = 2  # each point measured twice, stacks alternating; the figure used is the mean of the rounds
STACKS = ("NIM", "hand-built tuned", "hand-built untuned")

# %% [markdown]
# ## 1. Start the untuned hand-built stack

# %%
untuned_ctx = None
if labkit.stack() == "course":  # course stack only
    from nimlab.triton.launcher import hand_built_stack

    untuned_ctx = hand_built_stack("untuned")
    UNTUNED = untuned_ctx.__enter__()[1].url + "/v1"
else:
    UNTUNED = os.environ["TRITON_UNTUNED_URL"].rstrip("/")
print("untuned hand-built stack at", UNTUNED)
URLS = dict(zip(STACKS, (NIM, TUNED, UNTUNED), strict=True))

# %% [markdown]
# ## 2. Sweep
#
# One request per client (what this lab used to send) measures mostly the first request's warm-up and the
# moment the last client finishes. Four per client keeps every client busy for several rounds of the batch, so
# aggregate tokens/s settles; the two rounds show how much is left of the noise.

# %%
rounds: dict[tuple[str, int], list] = {}
for r in range(ROUNDS):
    for c in LEVELS:
        order = STACKS if r % 2 == 0 else tuple(reversed(STACKS))
        for name in order:
            m = labkit.measure(URLS[name], name, concurrency=c, requests=REQUESTS_PER_CLIENT * c,
                               max_tokens=MAX_TOKENS)
            rounds.setdefault((name, c), []).append(m.stats)
            print(f"round {r + 1}  concurrency {c}  {name:20} {m.stats.output_tokens_per_s:6.1f} tok/s  "
                  f"TTFT p50 {m.stats.ttft_ms.p50:6.0f} ms  errors {m.stats.errors}")


def tps(name: str, c: int) -> float:
    """Mean output tokens/s over the rounds for one stack at one concurrency."""
    runs = rounds[(name, c)]
    return sum(s.output_tokens_per_s for s in runs) / len(runs)


def ttft(name: str, c: int) -> float:
    """Mean of the rounds' median time to first token, in ms."""
    runs = rounds[(name, c)]
    return sum(s.ttft_ms.p50 for s in runs) / len(runs)


for (name, c), runs in sorted(rounds.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    values = [s.output_tokens_per_s for s in runs]
    spread = (max(values) - min(values)) / (sum(values) / len(values))
    print(f"concurrency {c}  {name:20} mean {tps(name, c):6.1f} tok/s  rounds differ by {spread:4.0%}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.4))
for name in STACKS:
    ax.plot(LEVELS, [tps(name, c) for c in LEVELS], marker="o", label=name)
ax.set(xlabel="concurrent clients", ylabel="output tokens/s (mean of rounds)",
       title="Same model, three serving setups")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## 3. Read the result

# %%
top = max(LEVELS)
nim, tuned, untuned = (tps(n, top) for n in STACKS)
print(f"at {top} clients: tuned / NIM = {tuned / nim:.2f}x, untuned / NIM = {untuned / nim:.2f}x")

# %% [markdown]
# Tuned versus NIM is close to a wash here, for the reason given at the top: the same engine code runs under
# both, with in-flight batching switched on in both. Read the ratio as "the packaging costs nothing", not as
# "any hand-built stack matches any NIM".
#
# ## 4. What the untuned stack costs
#
# The untuned stack is the honest baseline for a team that built the stack but never tuned it. Two untuned
# choices add up in it: no batching (each extra client waits for the ones ahead) and the default fp32 engine
# instead of int8 (each step is slower). Its cost is not a bad benchmark line; it is hardware and waiting time.
# Throughput that is half as high means twice the machines for the same traffic.

# %%
hardware = nim / untuned if untuned else float("inf")
print(f"at {top} clients the untuned stack serves {untuned:.1f} tok/s against the NIM's {nim:.1f}: "
      f"{hardware:.1f}x the hardware for the same traffic")
print(f"time to first token, median: NIM {ttft('NIM', top):.0f} ms, tuned {ttft('hand-built tuned', top):.0f} ms, "
      f"untuned {ttft('hand-built untuned', top):.0f} ms")
gpus, gpu_hour = 8, 3.0  # an assumption for scale: eight GPUs at $3 per GPU-hour, all year
extra = gpus * (hardware - 1) * gpu_hour * 24 * 365
print(f"on a GPU fleet the same ratio would turn {gpus} GPUs into {gpus * hardware:.0f}: "
      f"about ${extra:,.0f} a year more at ${gpu_hour:.2f} per GPU-hour (an assumed price)")

# %% [markdown]
# The untuned line is what the specialist weeks buy back: knowing that the batching strategy, the dynamic
# batcher, the instance counts and the engine's precision matter, and to which values. A NIM's profile ships
# those answers; a hand build has to find them. On a GPU the same experiment compares NVIDIA's profile with your own engine build,
# and in NIM 2.x also NVIDIA's vLLM settings with your TensorRT-LLM ones.

# %%
if untuned_ctx is not None:
    untuned_ctx.__exit__(None, None, None)
print("done")
