# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 7 — Validate the precision the NIM picked for you
#
# On a Hopper GPU, the profile NIM 1.x prefers is often FP8: among the profiles compatible with the hardware,
# its automatic selection takes the lower precision. Fewer bits per weight and activation, more tokens per
# second, and answers that are *almost* the same as BF16. "Almost" is the part nobody can decide for you.
# When you build the stack yourself, checking FP8 accuracy is a cost you pay on every model update; when you
# take the NIM, the choice is made before your first request, and you still owe yourself the check.
#
# The course NIM makes the same trade on CPU, by default: on a machine with 2 usable AVX2 CPUs it selects
# the **int8** profile (W8A8: weights per channel, activations per token, after smoothing). You will find
# out what it picked, force the **fp32** profile of the same engine with `NIM_MODEL_PROFILE` to compare, and
# measure both sides of the trade with `nimlab precision validate`.
#
# **Runs on:** the course stack (CPU). On a GPU the method is the same: record the precision tag of the
# profile the NIM selected, start a second NIM forced onto the BF16 profile, compare on your own evaluation
# set.
#
# **In a workshop room (`nimlab workshop`): not offered.** It starts a second NIM of its own, forced onto the
# fp32 profile, inside your container, and compares its speed with the room's shared NIM, which the other
# learners are loading at the same time: per learner that is a second model in memory, and the speed half of
# the comparison would measure the room's load. Run it on your own machine (`nimlab lab up`).

# %%
import subprocess
import sys

from nimlab import labkit
from nimlab.nim.client import running_profile

NIM = labkit.nim_url()
print("stack:", labkit.stack())
picked = running_profile(NIM)
print("selectedModelProfileId:", labkit.metadata(NIM)["selectedModelProfileId"])
if picked is not None and picked.name:
    print("matched in list-model-profiles:", picked.name, "| precision tag:", picked.tags.get("precision"))
else:
    print("not in the course manifest: look the id up in your NIM's list-model-profiles output")

# %% [markdown]
# `list-model-profiles` shows the candidates: the native CPU profiles differ only in precision. int8 and fp32
# run on any AVX2 machine with 2 CPUs; bf16 needs native bf16 support (AVX512_BF16 or AMX), as an FP8
# profile needs Hopper or Ada. Auto-selection ranks hardware-specific before generic, then lower precision
# first (the order NIM 1.x documents), so int8 wins here.

# %%
if labkit.stack() == "course":  # course stack only
    listing = subprocess.run([sys.executable, "-m", "nimlab", "list-model-profiles"], capture_output=True,
                             text=True, check=True).stdout
    for line in listing.splitlines():
        if "nimlab_native-cpu" in line and "lora" not in line or "why:" in line and "bf16" in line:
            print(line)

# %% [markdown]
# ## 1. Validate int8 against fp32
#
# A fixed set of 24 short questions with one checkable answer each. Both precisions are loaded side by side
# in this process; the report compares task score, token agreement and speed (a few minutes on two cores).

# %%
from nimlab.precision.validate import render, validate

report = validate(candidate="int8", reference="fp32", progress=lambda m: print("...", m, flush=True))
print()
print(render(report))

# %% [markdown]
# ## 2. Where they disagree
#
# Token agreement is measured with teacher forcing: the candidate reads the reference's reply and predicts
# each next token; a mismatch early in a free-running reply would otherwise hide every later token. Below,
# the questions whose graded outcome differs.

# %%
for prompt, r_ok, c_ok, r_txt, c_txt in zip(report.prompts, report.reference.correct, report.candidate.correct,
                                            report.reference.replies, report.candidate.replies, strict=True):
    if r_ok != c_ok:
        print(f"Q: {prompt}\n   fp32 {'right' if r_ok else 'wrong'}: {r_txt.strip()[:90]!r}\n"
              f"   int8 {'right' if c_ok else 'wrong'}: {c_txt.strip()[:90]!r}")

# %% [markdown]
# ## 3. Force the fp32 profile and measure both NIMs over HTTP
#
# Comparing is one variable: `NIM_MODEL_PROFILE` names the fp32 profile of the same engine. The second NIM's
# `/v1/metadata` then publishes a different profile id, and `list-model-profiles` gives its `precision`
# tag: the first thing to look at when a latency graph or an answer changes after a deploy.

# %%
from nimlab.bench import report as bench_report
from nimlab.lab.launch import course_nim

FP32 = "nimlab_native-cpu-fp32-tp1-pp1-throughput"
if labkit.stack() == "course":  # course stack only
    with course_nim(env={"NIM_MODEL_PROFILE": FP32}) as running:
        url = running.url + "/v1"
        forced = running_profile(url)
        print("forced:", forced.name if forced else None, "| precision tag:", forced.tags.get("precision") if forced else None)
        runs = [labkit.measure(NIM, f"{picked.tags.get('precision')} NIM (auto)", concurrency=8, requests=16).stats,
                labkit.measure(url, "fp32 NIM (forced)", concurrency=8, requests=16).stats]
    print(bench_report.table(runs))
    print("\n".join(bench_report.ratios(runs, baseline="fp32 NIM (forced)")))

# %% [markdown]
# ## 4. Decide
#
# Write down, before you look at the verdict again:
#
# - What score drop would you accept for this speed-up, for *your* traffic? A support bot that must quote a
#   refund policy and a brainstorming assistant deserve different thresholds.
# - Is 24 questions enough to tell a 5-point drop from noise? (The report's McNemar p-value answers this.)
# - Which of these checks would you re-run on every model update, and who owns that job when you build the
#   stack yourself instead of taking the NIM?
# - If the answer is "fp32 after all", the fix is one variable (`NIM_MODEL_PROFILE` naming the fp32 profile),
#   recorded as the expected profile id for this hardware so lab 4's health check keeps it that way.
#
# Try `nimlab precision validate --max-score-drop 0.25 --min-token-agreement 0.5` to see how the verdict
# follows the thresholds you choose, not the other way round.

# %%
print("speed-up", round(report.speedup, 2), "| score drop (points)", round(100 * report.score_drop, 1),
      "| token agreement", round(report.token_agreement, 3), "| accepted at the defaults:", report.accepted)
