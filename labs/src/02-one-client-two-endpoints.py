# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 2 — One client, two endpoints
#
# Both stacks speak the OpenAI API, so one client serves both: only `base_url` changes. With greedy decoding
# they give the same tokens for the same request: the course NIM's optimized profile and the tuned hand-built
# repository run the same int8 engine on the same weights, only the serving stack differs. That is the first
# half of the lesson: for a standard model, *what* you get is not the difference. (On GPUs this holds for NIM
# 1.x, whose optimized profiles are TensorRT-LLM engines like a hand-built stack's; a NIM 2.x runs vLLM, so
# there the same request can come back with slightly different tokens.)
#
# **Needs:** both stacks up (`nimlab lab up`). GPU stack: set `NIM_URL` and `TRITON_OPENAI_URL`.

# %%
from openai import OpenAI

from nimlab import labkit

ENDPOINTS = {"NIM": labkit.nim_url(), "hand-built": labkit.triton_url()}
clients = {name: OpenAI(base_url=url, api_key="not-needed-locally") for name, url in ENDPOINTS.items()}
models = {name: labkit.model_of(url) for name, url in ENDPOINTS.items()}
print(models)

# %% [markdown]
# ## Same request, same tokens

# %%
question = [{"role": "user", "content": "Explain in two sentences why batching helps GPU inference."}]
answers = {}
for name, client in clients.items():
    reply = client.chat.completions.create(model=models[name], messages=question, temperature=0, max_tokens=48)
    answers[name] = reply.choices[0].message.content
    print(f"--- {name} ({reply.usage.completion_tokens} tokens, finish: {reply.choices[0].finish_reason})")
    print(answers[name])
print("\nidentical:", answers["NIM"] == answers["hand-built"])

# %% [markdown]
# ## Streaming works the same way

# %%
for name, client in clients.items():
    stream = client.chat.completions.create(model=models[name], temperature=0, max_tokens=24, stream=True,
                                            messages=[{"role": "user", "content": "Name three planets."}])
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    print(f"{name:10} {len(pieces):3} chunks -> {''.join(pieces)!r}")

# %% [markdown]
# ## Errors look the same too
#
# A bad request gets an OpenAI-style error body from both, so client code handles both the same way.

# %%
import openai

for name, client in clients.items():
    try:
        client.chat.completions.create(model="no-such-model", messages=question, max_tokens=5)
    except openai.APIStatusError as err:
        print(f"{name:10} HTTP {err.status_code}: {err.body.get('message', err.body) if isinstance(err.body, dict) else err.body}")
