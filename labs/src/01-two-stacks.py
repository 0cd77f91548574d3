# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 1 — Two stacks, side by side
#
# On one side, a NIM: one container, one start-up log, a profile chosen for you. On the other, the stack you
# build yourself: a Triton model repository where every knob is yours. In this lab you look at both before
# you send them a single request.
#
# **Before you start:** `bash scripts/course.sh` (or `nimlab lab up`) starts both stacks: the course NIM on
# `:8000` and the hand-built stack (Triton on `:8001`–`:8003`, its OpenAI front end on `:9000`).
# On the GPU stack set `NIMLAB_STACK=gpu`, `NIM_URL`, `TRITON_OPENAI_URL` and `TRITON_HTTP_URL`.

# %%
import subprocess
import sys
from pathlib import Path

from nimlab import labkit

NIM, TRITON, TRITON_HTTP = labkit.nim_url(), labkit.triton_url(), labkit.triton_http_url()
print("NIM (OpenAI):          ", NIM)
print("hand-built (OpenAI):   ", TRITON)
print("hand-built (Triton v2):", TRITON_HTTP)

# %% [markdown]
# ## 1. What did the NIM decide at start-up?
#
# A NIM tells you, once, in its start-up log, which profile it selected for the hardware it found (the
# `Selected profile` and `Profile metadata` lines). At any time afterwards, `/v1/metadata` publishes the
# selected profile's **id**; its name and tags come from matching that id against `list-model-profiles`
# (for the course NIM, its packaged manifest; on a real NIM, the listing you saved at deploy time).

# %%
from nimlab.nim.client import running_profile

meta = labkit.metadata(NIM)
print("published /v1/metadata keys:", ", ".join(k for k in sorted(meta) if k != "nimlab"))
print("selectedModelProfileId:", meta["selectedModelProfileId"])
found = running_profile(NIM)
if found is not None and found.name:
    print("matched in list-model-profiles:", found.name)
    for key, value in sorted(found.tags.items()):
        print(f"  {key}: {value}")
else:
    print("not in the course manifest: find this id in your NIM's list-model-profiles output")

# %% [markdown]
# `list-model-profiles` shows every profile in the NIM's manifest and why each one can or cannot run here
# (in a real NIM container: `docker run ... list-model-profiles`).

# %%
if labkit.stack() == "course":  # course stack only: runs the course NIM's own command
    listing = subprocess.run([sys.executable, "-m", "nimlab", "list-model-profiles"], capture_output=True,
                             text=True, check=True).stdout
    print(listing)

# %% [markdown]
# ## 2. What did *you* decide for the hand-built stack?
#
# Nothing is chosen for you here. The model repository is a folder of `config.pbtxt` files, and the batching
# behaviour lives in the knobs you set in them. These are the knobs and the two presets the course ships:

# %%
knobs = subprocess.run([sys.executable, "-m", "nimlab", "triton", "render", "--list"], capture_output=True,
                       text=True, check=True).stdout
print(knobs)

# %% [markdown]
# Triton itself will tell you what it loaded — over its own protocol (KServe v2), with the official client.

# %%
import tritonclient.http as httpclient

triton = httpclient.InferenceServerClient(TRITON_HTTP.removeprefix("http://"))
print("server ready:", triton.is_server_ready())
for model in triton.get_model_repository_index():
    print(f"  {model['name']:16} {model.get('state', '?')}")
llm = triton.get_model_config("llm")
print("\nllm: max_batch_size =", llm.get("max_batch_size"),
      "| dynamic batching =", "dynamic_batching" in llm,
      "| instances =", [g.get("count") for g in llm.get("instance_group", [])],
      "| decoupled =", llm.get("model_transaction_policy", {}).get("decoupled"))
params = {k: v["string_value"] for k, v in llm.get("parameters", {}).items()}
print("engine:", {k: params[k] for k in ("batching_strategy", "max_num_seqs", "kv_cache_tokens") if k in params})

# %% [markdown]
# ## 3. Compare
#
# | | NIM | hand-built |
# |---|---|---|
# | who chose the batching | the profile (selected from the hardware) | you (`config.pbtxt` knobs) |
# | where you read the decision | start-up log, `/v1/metadata`'s profile id + `list-model-profiles` | the repository you wrote, Triton's model config |
# | what you can change | what NIM exposes (`NIM_*` variables, forcing a profile) | every knob, and the model code |
#
# Look at the hand-built repository you own:

# %%
import nimlab.triton

repo = Path(nimlab.triton.__file__).parent / "model_repository"
for path in sorted(repo.glob("*/config.pbtxt")):
    print(path.relative_to(repo))
