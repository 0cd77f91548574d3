"""Exercise 2: the buy-or-build cost model in specialist-weeks and licence dollars (see README.md)."""

from __future__ import annotations


def build_cost(p: dict, years: float) -> float:
    raise NotImplementedError


def nim_cost(p: dict, years: float) -> float:
    raise NotImplementedError


def break_even_gpus(p: dict, years: float) -> float:
    raise NotImplementedError


def cheaper(p: dict, years: float) -> str:
    raise NotImplementedError


def yearly_totals(p: dict, years: int) -> list[dict]:
    raise NotImplementedError
