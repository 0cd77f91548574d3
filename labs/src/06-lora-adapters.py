# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 6 — The middle case: your LoRA adapter on the NIM's base
#
# Between "take the NIM as it is" and "build the whole stack" sits a row of the decision table that many
# teams end up in: the stock base model is right, but you need your own behaviour on top. A LoRA adapter
# carries that behaviour in a few megabytes, and a LoRA-capable NIM profile applies it per request on the
# same optimized base, beside plain base-model traffic.
#
# In this lab you **train** a small adapter on CPU (peft), **check** it the way the NIM will, **serve** it
# from `NIM_PEFT_SOURCE`, see that it changes replies as trained while base requests stay exactly as
# before, **break** it on purpose, and **measure** what serving adapters costs.
#
# **Runs on:** the course stack (CPU). The adapter trained here fits SmolLM2-135M-Instruct only: on the GPU
# stack the same steps apply with an adapter trained for your NIM's base model, mounted at
# `NIM_PEFT_SOURCE`; the cells that start a NIM are *course stack only*.
#
# **In a workshop room (`nimlab workshop`): not offered.** It trains the adapter on your container's CPUs and
# then starts a LoRA-serving NIM of its own there, and it prices adapter against base requests by their
# throughput: per learner that is a second model in memory and minutes of full CPU, and the prices would
# measure the room's load. Run it on your own machine (`nimlab lab up`).

# %%
import shutil
import subprocess
import sys

from openai import OpenAI

from nimlab import labkit
from nimlab.lora.tasks import ACME

ADAPTERS = labkit.adapters_dir()
REQUESTS = 16  # per load in section 6 (four at a time); more gives steadier figures, fewer a quicker run
print("stack:", labkit.stack(), "| adapters folder (NIM_PEFT_SOURCE):", ADAPTERS)
print("the house style to teach:", ACME.rule)
print(len(ACME.examples), "training examples, for instance:", ACME.examples[0])

# %% [markdown]
# ## 1. Train the adapter (a few minutes on two cores)
#
# Rank 8 on the attention projections: well under one percent of the model's parameters are trained.
# Training is seeded; if the folder already holds an adapter trained with exactly these settings, it is
# reused and the cell says so.

# %%
from nimlab.lora.settings import TrainConfig
from nimlab.lora.train import train


def show(step, steps, loss, elapsed):
    if step == 1 or step % 5 == 0 or step == steps:
        print(f"step {step:>3}/{steps}  loss {loss:6.3f}  {elapsed:4.0f} s", flush=True)


result = train(TrainConfig(task="acme-style"), ADAPTERS / "acme", progress=show)
print(result.summary())
print(sorted(p.name for p in (ADAPTERS / "acme").iterdir()))

# %% [markdown]
# ## 2. Check it the way the NIM will
#
# Before anything loads, every folder under `NIM_PEFT_SOURCE` is checked: files, base model, rank, target
# modules, tensor shapes. `nimlab lora check` runs the same checks from the command line.

# %%
check = subprocess.run([sys.executable, "-m", "nimlab", "lora", "check", str(ADAPTERS)], capture_output=True,
                       text=True)
print(check.stdout or check.stderr)

# %% [markdown]
# ## 3. Serve it: a LoRA-enabled NIM
#
# Setting `NIM_PEFT_SOURCE` changes profile selection: only profiles tagged `feat_lora: true` are considered,
# and the start-up log says so in the words real NIM uses.

# %%
from nimlab.lab.launch import course_nim

lora_nim = running = None
if labkit.stack() == "course":  # course stack only
    lora_nim = course_nim(env={"NIM_PEFT_SOURCE": str(ADAPTERS), "NIM_PEFT_REFRESH_INTERVAL": "2"})
    running = lora_nim.__enter__()
    LORA = running.url + "/v1"
    for line in running.log().splitlines():
        if "LoRA" in line or "Selected profile" in line:
            print(line.split("] ", 1)[-1])
    models = OpenAI(base_url=LORA, api_key="unused").models.list().data
    print("\n/v1/models:", [(m.id, getattr(m, "parent", None)) for m in models])

# %% [markdown]
# ## 4. Same questions, with and without the adapter
#
# These questions were **not** in the training set. Greedy decoding; base and adapter requests go out
# together, so the engine batches them side by side. The last line compares the base model's replies with
# those of the plain course NIM (no adapters at all): the two NIMs may run different profiles, and so
# different precisions, which is enough to change a greedy reply.

# %%
import concurrent.futures

from nimlab.nim.client import running_profile

BASE = labkit.model_of(labkit.nim_url())


def ask(url, model, question):
    reply = OpenAI(base_url=url, api_key="unused").chat.completions.create(
        model=model, messages=[{"role": "user", "content": question}], temperature=0, max_tokens=32)
    return reply.choices[0].message.content.strip()


if running is not None:
    jobs = [(LORA, "acme", q) for q in ACME.held_out] + [(LORA, BASE, q) for q in ACME.held_out] \
        + [(labkit.nim_url(), BASE, q) for q in ACME.held_out]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: ask(*job), jobs))
    n = len(ACME.held_out)
    tuned, base, plain = answers[:n], answers[n:2 * n], answers[2 * n:]
    for q, t, b in zip(ACME.held_out, tuned, base, strict=True):
        print(f"Q: {q}\n   acme: {t}\n   base: {b}")
    print(f"\nfollows the house style: adapter {sum(map(ACME.follows, tuned))}/{n}, "
          f"base {sum(map(ACME.follows, base))}/{n}")
    same = sum(b == p for b, p in zip(base, plain, strict=True))
    # the LoRA NIM runs a LoRA profile (fp32 here); the plain one runs its default (int8 here): a difference
    # below comes from the precision that switching adapters on chose, not from the adapter (lesson 16)
    profiles = [running_profile(url) for url in (LORA, labkit.nim_url())]
    names = [p.name if p is not None and p.name else "?" for p in profiles]
    print(f"base-model replies identical on the LoRA NIM ({names[0]}) and the plain NIM ({names[1]}): {same}/{n}")

# %% [markdown]
# ## 5. Break it on purpose
#
# A copy trained "for another model" and one with too high a rank. With `NIM_PEFT_REFRESH_INTERVAL` set,
# the NIM re-scans the folder; each broken adapter is refused with its reason, and the service stays up.

# %%
import json
import time

if running is not None:
    for name, change in (("acme-wrong-base", {"base_model_name_or_path": "meta-llama/Llama-3.1-8B-Instruct"}),
                         ("acme-rank-64", {"r": 64})):
        shutil.copytree(ADAPTERS / "acme", ADAPTERS / name, dirs_exist_ok=True)
        cfg = json.loads((ADAPTERS / name / "adapter_config.json").read_text())
        (ADAPTERS / name / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
    deadline = time.monotonic() + 30
    while "acme-rank-64' not loaded" not in running.log() and time.monotonic() < deadline:
        time.sleep(0.5)
    for line in running.log().splitlines():
        if "not loaded" in line:
            print(line.split("] ", 1)[-1])
    try:
        ask(LORA, "acme-rank-64", "hello")
    except Exception as exc:  # the OpenAI SDK raises NotFoundError with the server's error body
        print("\n404 for the broken adapter:", exc.body["message"])
    print("still serving acme:", ask(LORA, "acme", "What is the capital of Japan?"))
    for name in ("acme-wrong-base", "acme-rank-64"):
        shutil.rmtree(ADAPTERS / name)

# %% [markdown]
# ## 6. What adapters cost at serving time
#
# Same load three ways on the LoRA-enabled NIM: base requests only, adapter requests only, and half and
# half (mixed batches). Bounded: `REQUESTS` requests (16, set in the first cell), 4 at a time, 32 tokens each.

# %%
from nimlab.bench import report

if running is not None:
    runs = [labkit.measure(LORA, label, concurrency=4, requests=REQUESTS, model=model).stats
            for label, model in (("base only", BASE), ("adapter only", "acme"), ("mixed", [BASE, "acme"]))]
    print(report.table(runs))
    print("\n".join(report.ratios(runs, baseline="base only")))

# %% [markdown]
# ## 7. Clean up, then decide
#
# The adapter stays in its folder for the exercise. Questions to answer in your notes:
#
# - Which requests did the adapter change, and which did it leave alone? How do you know?
# - What would have to be true for you to leave this middle row and build the stack yourself
#   (a fine-tune the NIM's profiles cannot serve, a custom kernel, more adapters than a profile holds)?
# - On a GPU, which tag in `list-model-profiles` tells you a profile can serve your adapters at all?

# %%
if lora_nim is not None:
    lora_nim.__exit__(None, None, None)
    print("LoRA-enabled NIM stopped")
