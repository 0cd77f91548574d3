"""Checks for exercise 7 (run by the grader, outside the sandbox). Feedback reaches learners on visible tests only."""

from __future__ import annotations

from typing import Any

from nimlab.grader.checks import Check, ShapeError, codes, field, score_codes, verdict

__all__ = ["verdict", "reasons", "profile", "refused"]


def reasons(value: Any, expect: dict, test: Any) -> Check:
    return score_codes(codes(value, "reasons"), set(expect["reasons"]))


def profile(value: Any, expect: dict, test: Any) -> Check:
    got, want = field(value, "profile"), expect["profile"]
    if got == want:
        return 1.0, "profile is right" if want else "right: no profile would start"
    if want is None:
        return 0.0, f"profile {got!r}, but no NIM profile would start here"
    return 0.0, (f"profile {got!r}; NIM would start {want!r} (only profiles whose LoRA support matches the wish, "
                 "optimized before generic)")


def refused(value: Any, expect: dict, test: Any) -> Check:
    got = field(value, "refused")
    if not isinstance(got, dict):
        raise ShapeError("'refused' must be a dict {adapter name: [problem codes]}")
    names = [a["name"] for a in test.call["args"][0]["adapters"]]
    unknown = sorted(set(got) - set(names))
    if unknown:
        return 0.0, f"'refused' names adapters the scenario does not have: {unknown}"
    if not names:
        return (1.0, "right: nothing to refuse") if not got else (0.0, "there are no adapters to refuse")
    wrong = []
    for name in names:
        have, want = codes({name: got.get(name, [])}, name), set(expect["refused"].get(name, []))
        if have != want:
            wrong.append(f"{name}: you gave {sorted(have) or 'nothing'}, the checks find {sorted(want) or 'nothing'}")
    fraction = 1 - len(wrong) / len(names)
    return fraction, "refused adapters are right" if not wrong else "; ".join(wrong)
