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
# turned (one instance, no dynamic batching, one request at a time).
#
# **Needs:** both stacks up (`nimlab lab up`). The untuned stack is started by this notebook (course stack
# only; on the GPU stack set `TRITON_UNTUNED_URL` to a Triton started with the untuned configuration).
# The load is small so the lab runs in a few minutes on a laptop; `nimlab bench` runs bigger sweeps.

# %%
import os

import matplotlib.pyplot as plt

from nimlab import labkit

NIM, TUNED = labkit.nim_url(), labkit.triton_url()
LEVELS = (1, 4)
MAX_TOKENS = 24

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

# %% [markdown]
# ## 2. Sweep

# %%
results = {}
for c in LEVELS:
    for name, url in (("NIM", NIM), ("hand-built tuned", TUNED), ("hand-built untuned", UNTUNED)):
        m = labkit.measure(url, name, concurrency=c, requests=c, max_tokens=MAX_TOKENS)
        results[(name, c)] = m.stats
        print(f"concurrency {c}  {name:20} {m.stats.output_tokens_per_s:6.1f} tok/s  "
              f"TTFT p50 {m.stats.ttft_ms.p50:6.0f} ms  errors {m.stats.errors}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.4))
for name in ("NIM", "hand-built tuned", "hand-built untuned"):
    ax.plot(LEVELS, [results[(name, c)].output_tokens_per_s for c in LEVELS], marker="o", label=name)
ax.set(xlabel="concurrent clients", ylabel="output tokens/s", title="Same model, three serving setups")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## 3. Read the result

# %%
top = max(LEVELS)
nim, tuned, untuned = (results[(n, top)].output_tokens_per_s
                       for n in ("NIM", "hand-built tuned", "hand-built untuned"))
print(f"at {top} clients: tuned / NIM = {tuned / nim:.2f}x, untuned / NIM = {untuned / nim:.2f}x")

# %% [markdown]
# Tuned versus NIM is close to a wash: both run the same engine with in-flight batching. Untuned is the cost
# of not knowing which knobs matter — the thing a NIM's profile does for you. On a GPU the same experiment
# compares NVIDIA's TensorRT-LLM profile with your own engine build.

# %%
if untuned_ctx is not None:
    untuned_ctx.__exit__(None, None, None)
print("done")
