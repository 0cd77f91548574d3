"""The autograder: manifests -> sandboxed calls -> trusted checks -> one results model -> reporters."""

from nimlab.grader.model import ExerciseResult, SubmissionResult, TestResult

__all__ = ["ExerciseResult", "SubmissionResult", "TestResult"]
