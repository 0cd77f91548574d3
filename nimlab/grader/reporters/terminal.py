"""The terminal summary a learner (or instructor, with reveal_hidden) reads."""

from __future__ import annotations

from nimlab.grader.model import SubmissionResult
from nimlab.grader.reporters.text import safe


def _pts(x: float) -> str:
    return f"{x:g}"


def verdict_line(res: SubmissionResult) -> str:
    """Never says "all tests passed" unless every test, hidden ones included, passed."""
    tests = res.tests
    hidden = [t for t in tests if t.hidden]
    visible = [t for t in tests if not t.hidden]
    if tests and all(t.passed for t in tests):
        return f"All {len(tests)} tests passed ({len(hidden)} of them hidden)."
    vis_ok = sum(t.passed for t in visible)
    hid_pts = sum(t.score for t in hidden)
    hid_max = sum(t.max_score for t in hidden)
    line = f"{vis_ok}/{len(visible)} visible tests passed"
    if hidden:
        line += f"; hidden tests: {_pts(hid_pts)}/{_pts(hid_max)} points"
        if vis_ok == len(visible):
            line += " (visible tests all pass, but some hidden ones do not: re-read the statement's rules)"
    return line + "."


def summary(res: SubmissionResult, reveal_hidden: bool = False, verbose: bool = True) -> str:
    """Every learner-controlled string passes through `safe`: no escape sequence can redraw the terminal."""
    try:
        return _summary(res, reveal_hidden, verbose)
    except Exception as exc:  # noqa: BLE001 - one submission's report must not stop the others'
        return f"== {safe(res.submission, False)}: its summary could not be shown ({type(exc).__name__})"


def _summary(res: SubmissionResult, reveal_hidden: bool, verbose: bool) -> str:
    out = [f"== {safe(res.submission, False)}: {_pts(res.score)}/{_pts(res.max_score)} points"]
    if res.message:
        out.append(f"   ! {safe(res.message)}")
    for ex in res.exercises:
        out.append(f"-- {safe(ex.exercise, False)} ({safe(ex.title, False)}): {_pts(ex.score)}/{_pts(ex.max_score)}")
        if ex.message:
            out.append(f"   ! {safe(ex.message)}")
        if not verbose:
            continue
        for t in ex.tests:
            mark = "PASS" if t.passed else ("PART" if t.score > 0 else "FAIL")
            tag = " [hidden]" if t.hidden else ""
            out.append(f"   {mark} {_pts(t.score)}/{_pts(t.max_score)}  {safe(t.name, False)}{tag}")
            fb = safe(t.shown_feedback(reveal_hidden))
            if not t.passed and fb:
                out.extend(f"        {line}" for line in fb.splitlines()[:8])
    out.append(verdict_line(res))
    return "\n".join(out)
