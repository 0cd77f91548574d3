"""CSV gradebook for a batch: one row per submission, a column per exercise, the total and a status note."""

from __future__ import annotations

import csv
import io

from nimlab.grader.model import SubmissionResult
from nimlab.grader.reporters.text import safe


def _cell(text: str) -> str:
    """A text cell no spreadsheet runs as a formula (a submission named `=HYPERLINK(...)`): such cells get a
    leading apostrophe, as OWASP's CSV-injection advice says."""
    text = safe(text, newlines=False)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def gradebook_csv(results: list[SubmissionResult]) -> str:
    ids = list(dict.fromkeys(e.exercise for r in results for e in r.exercises))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["submission", *ids, "total", "max_total", "seconds", "note"])
    for r in results:
        by = {e.exercise: e for e in r.exercises}
        try:
            notes = [r.message] if r.message else []
            notes += [f"{e.exercise}: {e.message}" for e in r.exercises if e.message]
            note = _cell("; ".join(notes))
        except Exception as exc:  # noqa: BLE001 - one submission's text must not cost anyone a row
            note = f"(its note could not be written: {type(exc).__name__})"
        w.writerow([_cell(r.submission), *(f"{by[i].score:g}" if i in by else "" for i in ids),
                    f"{r.score:g}", f"{r.max_score:g}", f"{r.seconds:.2f}", note])
    return buf.getvalue()
