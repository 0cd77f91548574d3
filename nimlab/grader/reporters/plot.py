"""The picture an instructor opens after batch grading: score histogram and pass rate per test (PNG)."""

from __future__ import annotations

from pathlib import Path

from nimlab.grader.model import SubmissionResult
from nimlab.grader.reporters.text import safe


def gradebook_plot(results: list[SubmissionResult], path: Path) -> Path:
    """Write `path` (PNG): left, how many submissions reached each share of the points; right, the share of
    submissions that passed each test (hidden ones marked), so a test everyone fails stands out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = [100 * r.score / r.max_score for r in results if r.max_score > 0]
    names: list[str] = []
    rates: dict[str, list[bool]] = {}
    for r in results:
        for t in r.tests:
            key = safe(f"{t.exercise[:2]} {t.name}{' [hidden]' if t.hidden else ''}", False)[:70]
            if key not in rates:
                names.append(key)
                rates[key] = []
            rates[key].append(t.passed)
    height = max(4.0, 0.16 * len(names) + 1.5)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, height), gridspec_kw={"width_ratios": [1, 1.4]})
    left.hist(shares, bins=[i * 5 for i in range(21)], color="#76b900", edgecolor="black")
    left.set(title=f"Scores of {len(results)} submissions", xlabel="share of the points (%)",
             ylabel="submissions", xlim=(0, 100))
    ys = list(range(len(names)))
    right.barh(ys, [100 * sum(rates[n]) / len(rates[n]) for n in names], color="#4a7fb0")
    right.set_yticks(ys, names, fontsize=6)
    right.invert_yaxis()
    right.set(title="Pass rate per test", xlabel="submissions that passed (%)", xlim=(0, 100))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
