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
# A NIM that lands on hardware its optimized profile cannot use does not crash. It selects a **generic**
# profile, starts, batches requests as usual and answers them — on a slower engine. On NIM 1.x that is a
# vLLM profile instead of a prebuilt TensorRT-LLM engine; on the course NIM it is the portable
# `nimlab_torch` profile instead of the int8 `nimlab_native` one. A "does it answer?" check passes, and so
# does "does it batch?". In this lab you cause the incident on purpose, find the evidence, measure what it
# costs, meet a different failure that only looks similar, and write the health check that tells them apart.
#
# **Runs on:** the course stack (default, CPU only). On the GPU stack set `NIMLAB_STACK=gpu`, `NIM_URL`,
# `NIM_FALLBACK_URL` (a real NIM started with the `compose/` fallback override) and optionally
# `NIM_MISCONFIGURED_URL` (one started with `NIM_PASSTHROUGH_ARGS="--max-num-seqs 1"`),
# `NIM_EXPECTED_PROFILE_ID` and `NIM_BASELINE_TOK_S` (recorded at deploy time); the cells marked *course stack only* are then skipped. Every cell reads only
# what a real NIM publishes. [What the course NIM simplifies](../course-nim.md) lists where it differs from
# a real one and why this lab still holds.

# %%
import os
import subprocess
import sys

import httpx
from openai import OpenAI

from nimlab import labkit
from nimlab.nim.client import running_profile

NIM = labkit.nim_url()
print("stack:", labkit.stack(), "| healthy NIM at", NIM)
print("selectedModelProfileId:", labkit.metadata(NIM)["selectedModelProfileId"])

# %% [markdown]
# ## 0. At deploy time: record what healthy looks like
#
# Two numbers make every later check possible: the **profile id** the NIM selects on this hardware, and the
# **throughput** it delivers under a short, fixed probe (4 concurrent streams, 32 tokens each, at most 5 s:
# the probe exercise 4 defines). `/v1/metadata` publishes only the id; the profile's name and tags come from
# matching it against the `list-model-profiles` output (here: the course NIM's manifest; on a real NIM, the
# output you saved when you deployed).

# %%
EXPECTED = os.environ.get("NIM_EXPECTED_PROFILE_ID") or labkit.metadata(NIM)["selectedModelProfileId"]
healthy_profile = running_profile(NIM)
print("expected profile id:", EXPECTED)
if healthy_profile is not None and healthy_profile.name:
    print("  name:", healthy_profile.name)
    print("  tags:", ", ".join(f"{k}={v}" for k, v in sorted(healthy_profile.tags.items())))
else:
    print("  (not in the course manifest: look the id up in your list-model-profiles output)")
if os.environ.get("NIM_BASELINE_TOK_S"):  # a baseline recorded earlier, on a quiet machine
    BASELINE = float(os.environ["NIM_BASELINE_TOK_S"])
else:
    BASELINE = labkit.probe_tok_s(NIM)
print(f"baseline: {BASELINE:.1f} output tokens/s under the probe")

# %% [markdown]
# ## 1. Land the NIM where its optimized profile cannot run
#
# The course NIM's optimized profiles need at least 2 CPUs that the process may really use. `taskset -c 0`
# pins a second NIM to one CPU — what a container limited with `cpus: 1` sees. (On a GPU: a GPU model with
# no prebuilt TensorRT-LLM engine for this model.)

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
# ## 2. It still answers
#
# Same question, greedy decoding, both NIMs. Both replies are sensible. They may differ in a word or two:
# the two profiles compute in different precisions (int8 and fp32 here; FP8 and BF16 on an H100), so
# correctness checks cannot tell you which engine you got.

# %%
question = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
for name, url in (("healthy", NIM), ("fallback", FALLBACK)):
    client = OpenAI(base_url=url, api_key="not-needed-locally")
    reply = client.chat.completions.create(model=labkit.model_of(url), messages=question, temperature=0,
                                           max_tokens=24)
    print(f"{name:9} -> {reply.choices[0].message.content!r}")

# %% [markdown]
# ## 3. Find the evidence
#
# The start-up log says it in NIM's words. Then the published surface: the selected id against the one you
# recorded, and the metrics. Note `num_request_max`: **both** NIMs batch, so the batch size does not give
# the fallback away.

# %%
if running is not None:  # course stack only: the start-up log of the NIM we started
    for line in running.log().splitlines():
        if "compatible profile" in line or "Valid profile" in line or "Selected profile" in line:
            print(line)
print()
for name, url in (("healthy", NIM), ("fallback", FALLBACK)):
    pid = labkit.metadata(url)["selectedModelProfileId"]
    found = running_profile(url)
    label = found.name if found is not None and found.name else "(look it up in list-model-profiles)"
    print(f"{name:9} id {pid[:16]}… {label:42} expected: {pid == EXPECTED!s:5} "
          f"num_request_max={labkit.metrics(url).get('num_request_max')}")

# %% [markdown]
# `list-model-profiles` says *why* the optimized profiles were passed over (run under the same restriction):

# %%
if labkit.stack() == "course":  # course stack only
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "nimlab", "list-model-profiles"],
                         capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    for i, line in enumerate(lines):  # the section headers, and each course CPU profile with its verdict
        if line.startswith("- ") or "nimlab_" in line and "lora" not in line:
            print(line)
            if i + 1 < len(lines) and "why:" in lines[i + 1]:
                print(lines[i + 1])

# %% [markdown]
# ## 4. Measure the loss
#
# Eight concurrent clients, fixed output length, both NIMs. This is where the fallback shows: the same
# batching, a slower engine.

# %%
healthy = labkit.measure(NIM, "healthy", concurrency=8, requests=8, max_tokens=32)
fallback = labkit.measure(FALLBACK, "fallback", concurrency=8, requests=8, max_tokens=32)
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
ax.set_xlabel("aggregate output tokens/s (8 clients)")
ax.set_title("Both batch; one engine is slower")
fig.tight_layout()

# %% [markdown]
# ## 5. Fix it
#
# Forcing the optimized profile on hardware that cannot run it does not help: NIM refuses at start-up,
# before it opens a port. The fix here is the resources (give the container its CPUs; on a GPU, a GPU with
# an engine for this model), after which automatic selection picks the optimized profile again. Pinning
# with `NIM_MODEL_PROFILE` is the fix only when `list-model-profiles` lists the optimized profile as valid
# for this hardware and the NIM still chose a generic one (exercise 3's "wrong auto-choice").

# %%
if labkit.stack() == "course":  # course stack only
    forced = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "nimlab", "serve", "--port", "0"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NIM_MODEL_PROFILE": "nimlab_native-cpu-int8-tp1-pp1-throughput"})
    print("exit status:", forced.returncode)
    print(forced.stderr.strip())

# %% [markdown]
# ## 6. A different failure: the batch size forced to one
#
# Configuration outranks the profile: on NIM 2.x, `NIM_PASSTHROUGH_ARGS` goes to the engine ahead of the
# `NIM_*` variables and the profile's own settings, and vLLM's `--max-num-seqs 1` caps the batch at one
# sequence. The NIM selects the **right** profile and serves one request at a time. This is not a fallback:
# the profile id matches, and `num_request_max` (a NIM 1.x metric name; a 2.x NIM exposes vLLM's own
# `vllm:`-prefixed metrics) is the signal that catches it.

# %%
misconfig = None
if labkit.stack() == "course":  # course stack only
    misconfig = course_nim(env={"NIM_PASSTHROUGH_ARGS": "--max-num-seqs 1"})
    MISCONFIGURED = misconfig.__enter__().url + "/v1"
else:
    MISCONFIGURED = os.environ.get("NIM_MISCONFIGURED_URL", "").rstrip("/") or None
if MISCONFIGURED:
    pid = labkit.metadata(MISCONFIGURED)["selectedModelProfileId"]
    print("misconfigured NIM: expected profile:", pid == EXPECTED,
          "| num_request_max:", labkit.metrics(MISCONFIGURED).get("num_request_max"),
          f"| probe {labkit.probe_tok_s(MISCONFIGURED):.1f} tok/s against a {BASELINE:.1f} baseline")

# %% [markdown]
# ## 7. The health check that tells them apart
#
# "It answers" is not health, and neither is "it batches". Judge in this order and stop at the first
# problem: ready? the profile id you recorded for this hardware? a batch size above one? the probe at 60% of
# the baseline or better? Never judge the profile's name: NIM 2.x runs vLLM for every profile, so a `vllm`
# prefix says nothing. This is the logic exercise 4 grades.

# %%
def health_check(base_url: str, expected_id: str, baseline_tok_s: float) -> tuple[str, str]:
    try:
        ready = httpx.get(labkit.root(base_url) + "/v1/health/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        ready = False
    if not ready:
        return "not_ready", "nothing ready at this URL: check the container and its start-up log"
    pid = labkit.metadata(base_url)["selectedModelProfileId"]
    if pid != expected_id:
        return "fallback", f"runs profile {pid[:12]}…, not {expected_id[:12]}…: read its start-up log"
    max_batch = labkit.metrics(base_url).get("num_request_max")
    if max_batch is not None and max_batch <= 1:
        return "misconfigured", "one request at a time: remove the batch-size override (--max-num-seqs)"
    tok_s = labkit.probe_tok_s(base_url)
    if tok_s < 0.6 * baseline_tok_s:
        return "slow", f"{tok_s:.0f} tok/s, under 60% of the {baseline_tok_s:.0f} baseline: look for contention"
    return "healthy", f"expected profile, batching, {tok_s:.0f} tok/s"


targets = {"healthy": NIM, "fallback": FALLBACK, "misconfigured": MISCONFIGURED,
           "nothing there": "http://127.0.0.1:9/v1"}
for name, url in targets.items():
    if url:
        print(f"{name:14}", health_check(url, EXPECTED, BASELINE))

# %%
for ctx in (incident, misconfig):
    if ctx is not None:
        ctx.__exit__(None, None, None)
print("done")
