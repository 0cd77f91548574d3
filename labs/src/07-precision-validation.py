# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 7 — A faster profile is a claim: validate it
#
# On a Hopper GPU, the profile NIM would rather run is often FP8: fewer bits per weight and activation,
# more tokens per second, and answers that are *almost* the same. "Almost" is the part nobody can decide
# for you. When you build the stack yourself, checking FP8 accuracy is a cost you pay on every model update;
# when you take the NIM, you still owe yourself the check before you accept its choice.
#
# The course NIM has the same trade on CPU: an **int8** profile (every linear layer quantized, weights per
# channel and activations on the fly) that is faster on this machine and changes tokens. You will measure
# both sides of the trade with `nimlab precision validate`, serve the faster profile, and decide with numbers.
#
# **Runs on:** the course stack (CPU). On a GPU, the same method applies to an FP8 profile against a BF16
# one: run both, compare on your own evaluation set.

# %%
import subprocess
import sys

from nimlab import labkit

print("stack:", labkit.stack())
listing = subprocess.run([sys.executable, "-m", "nimlab", "list-model-profiles"], capture_output=True, text=True)
for line in listing.stdout.splitlines():
    if "nimlab_inflight-cpu" in line or "why:" in line and "avx512_bf16" in line or line.startswith("- "):
        print(line)

# %% [markdown]
# Three CPU profiles differ only in precision. fp32 is the one auto-selection picks. int8 is runnable but
# **opt-in**: it starts only when `NIM_MODEL_PROFILE` names it. bf16 needs a CPU with native bf16 support
# (AVX512_BF16 or AMX); on an AVX2 machine a bf16 cast is slower than fp32, so that profile is incompatible
# here, just as an FP8 profile is incompatible with an A100.
#
# Real NIM 1.x does *not* wait for you: its automatic selection prefers the lower precision among
# compatible profiles. The course keeps fp32 as the default so that lab 4's fallback compares identical
# tokens; the question you answer here is the one NIM's default answers silently.
#
# ## 1. Validate int8 against fp32
#
# A fixed set of 24 short questions with one checkable answer each. Both models are loaded side by side;
# the report compares task score, token agreement and speed (about three minutes on two cores).

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
# ## 3. Serve the candidate and measure it over HTTP
#
# Opting in is one variable. The NIM's `/v1/metadata` then reports the profile and its `precision` tag, the
# first thing to look at when a latency graph moves after a deploy.

# %%
from nimlab.bench import report as bench_report
from nimlab.lab.launch import course_nim

INT8 = "nimlab_inflight-cpu-int8-tp1-pp1-throughput"
if labkit.stack() == "course":  # course stack only
    with course_nim(env={"NIM_MODEL_PROFILE": INT8}) as running:
        url = running.url + "/v1"
        meta = labkit.metadata(url)
        print("selected:", meta["selectedModelProfileName"], "| precision tag:", meta["profileTags"]["precision"])
        runs = [labkit.measure(labkit.nim_url(), "fp32 NIM", concurrency=8, requests=16).stats,
                labkit.measure(url, "int8 NIM", concurrency=8, requests=16).stats]
    print(bench_report.table(runs))
    print("\n".join(bench_report.ratios(runs, baseline="fp32 NIM")))

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
#
# Try `nimlab precision validate --max-score-drop 0.25 --min-token-agreement 0.5` to see how the verdict
# follows the thresholds you choose, not the other way round.

# %%
print("speed-up", round(report.speedup, 2), "| score drop (points)", round(100 * report.score_drop, 1),
      "| token agreement", round(report.token_agreement, 3), "| accepted at the defaults:", report.accepted)
