"""The results model every path produces (graded, crashed, timed out, missing) and every reporter reads."""

from __future__ import annotations

from dataclasses import dataclass, field

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
HIDDEN_NOTE = "hidden test: only its name and points are shown"


@dataclass(frozen=True)
class TestResult:
    """One test of one exercise. `feedback` is learner-safe; `detail` is for instructors only."""

    __test__ = False  # not a pytest class

    exercise: str
    name: str
    score: float
    max_score: float
    visibility: str = "visible"
    feedback: str = ""
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score - 1e-9

    @property
    def hidden(self) -> bool:
        return self.visibility != "visible"

    def shown_feedback(self, reveal_hidden: bool = False) -> str:
        """What a learner (or, with reveal_hidden, an instructor) reads for this test."""
        if self.hidden and not reveal_hidden:
            return HIDDEN_NOTE
        return self.feedback if not reveal_hidden or not self.detail else f"{self.feedback}\n[instructor] {self.detail}"


@dataclass(frozen=True)
class ExerciseResult:
    exercise: str
    title: str
    tests: tuple[TestResult, ...]
    message: str = ""  # learner-visible note for the whole exercise (crash, timeout, not submitted)
    stdout: str = ""  # the submission's own output, instructor-only
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return round(sum(t.max_score for t in self.tests), 4)


@dataclass(frozen=True)
class SubmissionResult:
    submission: str
    exercises: tuple[ExerciseResult, ...]
    seconds: float = 0.0
    message: str = ""  # learner-visible, e.g. "Autograder failed on this submission"
    errors: tuple[str, ...] = field(default_factory=tuple)  # instructor-only diagnostics

    @property
    def tests(self) -> tuple[TestResult, ...]:
        return tuple(t for e in self.exercises for t in e.tests)

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 4)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises), 4)

    @classmethod
    def without_results(cls, submission: str, message: str, error: str = "") -> SubmissionResult:
        """A submission the grader could not grade at all: zero, a learner message, the cause kept aside."""
        return cls(submission, (), message=message, errors=(error,) if error else ())
