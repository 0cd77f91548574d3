"""Exercise 2 reference solution."""

from __future__ import annotations


def build_cost(p: dict, years: float) -> float:
    weeks = p["build_weeks"] + p["rebuild_weeks"] * p["versions_per_year"] * years
    return weeks * p["specialist_week_cost"]


def _nim_engineering(p: dict, years: float) -> float:
    return (p["nim_setup_weeks"] + p["nim_update_weeks"] * p["versions_per_year"] * years) * p["specialist_week_cost"]


def nim_cost(p: dict, years: float) -> float:
    return p["gpus"] * p["licence_per_gpu_year"] * years + _nim_engineering(p, years)


def break_even_gpus(p: dict, years: float) -> float:
    return max(0.0, (build_cost(p, years) - _nim_engineering(p, years)) / (p["licence_per_gpu_year"] * years))


def cheaper(p: dict, years: float) -> str:
    return "nim" if nim_cost(p, years) < build_cost(p, years) else "build"


def yearly_totals(p: dict, years: int) -> list[dict]:
    return [{"year": y, "build": build_cost(p, y), "nim": nim_cost(p, y)} for y in range(1, years + 1)]
