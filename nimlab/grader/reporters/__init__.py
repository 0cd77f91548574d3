"""Reporters: pure functions from the results model to text (terminal, Gradescope JSON, JUnit XML, CSV)."""

from nimlab.grader.reporters.gradebook import gradebook_csv
from nimlab.grader.reporters.gradescope import gradescope_results
from nimlab.grader.reporters.junit import junit_xml
from nimlab.grader.reporters.terminal import summary

__all__ = ["gradebook_csv", "gradescope_results", "junit_xml", "summary"]
