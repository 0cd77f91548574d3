# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 5 — Buy vs build, in money
#
# Lab 3 measured a tuned hand-built stack and a NIM at about the same tokens per second for a catalogue
# model. Speed does not separate them, so the decision turns on money and on who holds the knobs. This lab puts the cost half into
# numbers you can change: specialist time to build and to rebuild on each model version, against a licence
# that scales with your GPU footprint.
#
# **Every number below is an input, not a fact about your organisation.** The one published figure is the
# NVIDIA AI Enterprise list price NVIDIA has quoted on an earnings call: USD 4,500 per GPU per year
# (NIM for production use is licensed through NVIDIA AI Enterprise). Some GPUs ship with a multi-year
# subscription included (e.g. H100 NVL, H200 NVL) — set the licence to 0 for those years if that is you.
# Runs anywhere: no services needed.

# %%
from dataclasses import dataclass

import matplotlib.pyplot as plt


@dataclass(frozen=True)
class Assumptions:
    specialist_cost_per_week: float = 5_000.0   # fully loaded cost of one GPU specialist-week (your number)
    build_weeks: float = 3.0                     # first TensorRT-LLM engine + Triton stack, tuned
    rebuild_weeks_per_version: float = 1.0       # rebuild, FP8 accuracy validation, re-tune per model version
    model_versions_per_year: float = 4.0
    licence_per_gpu_year: float = 4_500.0        # NVIDIA AI Enterprise list price (see above)
    nim_setup_weeks: float = 0.2                 # an afternoon to a day: pull, configure, verify the profile


A = Assumptions()


def build_cost(years: float, a: Assumptions = A) -> float:
    """Specialist time: the first build, then rebuilds on every model version. Independent of GPU count."""
    weeks = a.build_weeks + a.rebuild_weeks_per_version * a.model_versions_per_year * years
    return weeks * a.specialist_cost_per_week


def nim_cost(years: float, gpus: int, a: Assumptions = A) -> float:
    """Licence per GPU per year, plus the small setup time. Grows with the footprint."""
    return a.licence_per_gpu_year * gpus * years + a.nim_setup_weeks * a.specialist_cost_per_week


def break_even_gpus(years: float, a: Assumptions = A) -> float:
    """The footprint at which both cost the same over `years`: above it, building is cheaper in money."""
    return (build_cost(years, a) - a.nim_setup_weeks * a.specialist_cost_per_week) / (a.licence_per_gpu_year * years)


for years in (1, 3):
    print(f"over {years} year(s): build ${build_cost(years):,.0f}; break-even at {break_even_gpus(years):.1f} GPUs")

# %% [markdown]
# ## The curve
#
# Cost of each path over three years as the footprint grows. Where the lines cross is the break-even
# footprint — *in money only*. Lock-in, lost control and the atrophy of the team's build skill are costs
# this plot cannot show; the lessons discuss them.

# %%
years = 3
gpus = list(range(0, 33))
fig, ax = plt.subplots(figsize=(6.5, 3.6))
ax.plot(gpus, [build_cost(years) / 1000 for _ in gpus], label="hand-build (specialist time)")
ax.plot(gpus, [nim_cost(years, g) / 1000 for g in gpus], label="NIM (licence + setup)")
be = break_even_gpus(years)
ax.axvline(be, color="grey", linestyle=":")
ax.annotate(f"break-even ≈ {be:.1f} GPUs", (be, build_cost(years) / 1000), textcoords="offset points",
            xytext=(8, 10))
ax.set(xlabel="GPUs running the model", ylabel="3-year cost (thousand USD)", title="Buy vs build, 3 years")
ax.legend()
fig.tight_layout()

# %% [markdown]
# ## Sensitivity: what moves the answer?
#
# Change one assumption at a time and watch the break-even footprint. A team that ships a new model version
# every month pays for the build over and over; a team that pins one model for years does not.

# %%
from dataclasses import replace

rows = [
    ("baseline", A),
    ("monthly model versions", replace(A, model_versions_per_year=12)),
    ("yearly model versions", replace(A, model_versions_per_year=1)),
    ("cheaper specialist", replace(A, specialist_cost_per_week=3_000)),
    ("education licence (-75%)", replace(A, licence_per_gpu_year=1_125)),
]
for name, a in rows:
    print(f"{name:28} break-even over 3 years: {break_even_gpus(3, a):5.1f} GPUs")

# %% [markdown]
# **Your turn.** Put in your team's numbers. Then answer the design question the course keeps asking:
# is the engine work *differentiated* — something only you can build — or identical work repeated? If it is
# identical, the money rarely decides it; if it is differentiated, the NIM path may not exist at all.
# The graded version of this reasoning is Exercise 2 (cost model).
