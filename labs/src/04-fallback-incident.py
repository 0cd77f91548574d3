# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 4 — The profile-fallback incident
#
# A NIM that lands on hardware its optimized profile cannot use does not crash. It picks a **generic**
# profile, starts, and answers every request correctly — only slower. Nothing in a "does it answer?" check
# will notice. In this lab you cause that incident on purpose, find the evidence, measure what it costs,
# fix it, and write the health check that would have caught it.
#
# **Runs on:** the course stack (default, CPU only). On the GPU stack set `NIMLAB_STACK=gpu`, `NIM_URL`
# and `NIM_FALLBACK_URL` (a real NIM started with `compose/` fallback override); the cells marked
# *course stack only* are then skipped.

# %%
import os
import subprocess
import sys

from openai import OpenAI

from nimlab import labkit

NIM = labkit.nim_url()
print("stack:", labkit.stack(), "| healthy NIM at", NIM)
print("selected profile:", labkit.metadata(NIM)["selectedModelProfileName"])

# %% [markdown]
# ## 1. Land the NIM where its optimized profile cannot run
#
# The course NIM's optimized profile (`nimlab_inflight-…`, in-flight batching) needs at least 2 CPUs that
# the process may really use. `taskset -c 0` pins a second NIM to one CPU — the same thing a container
# limited with `cpus: 1` sees. (On a GPU this is a GPU model with no prebuilt TensorRT-LLM engine.)

# %%
from nimlab.lab.launch import course_nim

incident = running = None
if labkit.stack() == "course":  # course stack only
    incident = course_nim(cpus="0")
    running = incident.__enter__()
    FALLBACK = running.url + "/v1"
else:
    FALLBACK = os.environ["NIM_FALLBACK_URL"].rstrip("/")
print("fallback NIM at", FALLBACK)

# %% [markdown]
# ## 2. It still answers — correctly
#
# Same question, greedy decoding, both NIMs. If correctness were the test, both pass.

# %%
question = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
answers = {}
for name, url in (("healthy", NIM), ("fallback", FALLBACK)):
    client = OpenAI(base_url=url, api_key="not-needed-locally")
    reply = client.chat.completions.create(model=labkit.model_of(url), messages=question, temperature=0,
                                           max_tokens=24)
    answers[name] = reply.choices[0].message.content
    print(f"{name:9} -> {answers[name]!r}")
print("identical:", answers["healthy"] == answers["fallback"])

# %% [markdown]
# ## 3. Find the evidence
#
# Three places tell the truth: the start-up log, `/v1/metadata`, and the metrics.

# %%
if running is not None:  # course stack only: the start-up log of the NIM we started
    for line in running.log().splitlines():
        if "compatible profile" in line or "Valid profile" in line or "Selected profile" in line:
            print(line)
print()
for name, url in (("healthy", NIM), ("fallback", FALLBACK)):
    meta = labkit.metadata(url)
    m = labkit.metrics(url)
    print(f"{name:9} profile={meta['selectedModelProfileName']:45} num_request_max={m.get('num_request_max')}")

# %% [markdown]
# The start-up log says it in NIM's own words. `list-model-profiles` says *why* (run under the same CPU
# restriction):

# %%
if labkit.stack() == "course":  # course stack only
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "nimlab", "list-model-profiles"],
                         capture_output=True, text=True, check=True).stdout
    print("\n".join(line for line in out.splitlines()[:12]))

# %% [markdown]
# ## 4. Measure the loss
#
# Four concurrent clients, fixed output length, both NIMs. This is where the fallback shows.

# %%
healthy = labkit.measure(NIM, "healthy", concurrency=4, requests=4, max_tokens=24)
fallback = labkit.measure(FALLBACK, "fallback", concurrency=4, requests=4, max_tokens=24)
for m in (healthy, fallback):
    s = m.stats
    print(f"{s.endpoint:9} {s.output_tokens_per_s:6.1f} tok/s  TTFT p50 {s.ttft_ms.p50:6.0f} ms  "
          f"errors {s.errors}")
ratio = healthy.stats.output_tokens_per_s / fallback.stats.output_tokens_per_s
print(f"the fallback delivers {1 / ratio:.0%} of the healthy throughput ({ratio:.1f}x slower)")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 2.6))
ax.barh(["fallback", "healthy"], [fallback.stats.output_tokens_per_s, healthy.stats.output_tokens_per_s],
        color=["#999999", "#76b900"])
ax.set_xlabel("aggregate output tokens/s (4 clients)")
ax.set_title("Same answers, different speed")
fig.tight_layout()

# %% [markdown]
# ## 5. Fix it
#
# Forcing the optimized profile on hardware that cannot run it does not help: NIM refuses at start-up,
# before it opens a port. The real fix is the resources (give the container its CPUs — on a GPU, a GPU with
# an engine for this model), after which automatic selection picks the fast path again.

# %%
if labkit.stack() == "course":  # course stack only
    forced = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "nimlab", "serve", "--port", "0"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NIM_MODEL_PROFILE": "nimlab_inflight-cpu-fp32-tp1-pp1-throughput"})
    print("exit status:", forced.returncode)
    print(forced.stderr.strip())

# %% [markdown]
# ## 6. The health check that would have caught it
#
# "It answers" is not health. Check that the **fast path engaged**: the selected profile is not generic
# and the engine batches.

# %%
def fast_path_engaged(base_url: str) -> tuple[bool, str]:
    meta = labkit.metadata(base_url)
    name = meta.get("selectedModelProfileName", "")
    generic = "generic" in name or name.startswith("vllm")
    max_batch = labkit.metrics(base_url).get("num_request_max", 0)
    ok = not generic and max_batch > 1
    return ok, f"profile {name}, batches up to {max_batch:g}"


for name, url in (("healthy", NIM), ("fallback", FALLBACK)):
    print(name, fast_path_engaged(url))

# %%
if incident is not None:
    incident.__exit__(None, None, None)
print("done")
