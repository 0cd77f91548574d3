"""Gradescope `results.json` (https://gradescope-autograders.readthedocs.io/en/latest/specs/), as a dict.

Hidden tests keep Gradescope's own visibility (hidden / after_due_date / after_published) and carry only a
generic output line, so even after publication the learner sees name and points, never inputs or expected values.
"""

from __future__ import annotations

from typing import Any

from nimlab.grader.model import HIDDEN_NOTE, SubmissionResult
from nimlab.grader.reporters.terminal import verdict_line
from nimlab.grader.reporters.text import safe


def gradescope_results(res: SubmissionResult, stdout_visibility: str = "hidden") -> dict[str, Any]:
    tests = []
    for n, t in enumerate(res.tests, 1):
        entry: dict[str, Any] = {
            "score": t.score, "max_score": t.max_score, "status": "passed" if t.passed else "failed",
            "name": safe(t.name, False), "number": str(n), "output": safe(t.feedback) if not t.hidden else HIDDEN_NOTE,
            "output_format": "text", "tags": [t.exercise], "visibility": t.visibility,
        }
        tests.append(entry)
    notes = [f"{e.exercise}: {e.message}" for e in res.exercises if e.message]
    output = safe("\n".join([verdict_line(res), *([res.message] if res.message else []), *notes]))
    return {
        "score": res.score, "execution_time": round(res.seconds, 3), "output": output, "output_format": "text",
        "test_output_format": "text", "test_name_format": "text", "visibility": "visible",
        "stdout_visibility": stdout_visibility,
        "extra_data": {"max_score": res.max_score, "exercises": {e.exercise: [e.score, e.max_score]
                                                                 for e in res.exercises}},
        "tests": tests,
    }
