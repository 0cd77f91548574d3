"""JUnit XML: one testsuite per exercise, one testcase per test; hidden tests' messages are generic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from nimlab.grader.model import SubmissionResult
from nimlab.grader.reporters.text import safe


def junit_xml(results: list[SubmissionResult], reveal_hidden: bool = False) -> str:
    root = ET.Element("testsuites", name="nimlab grade")
    for res in results:
        for ex in res.exercises:
            suite = ET.SubElement(root, "testsuite", name=safe(f"{res.submission}.{ex.exercise}", False),
                                  tests=str(len(ex.tests)), failures=str(sum(not t.passed for t in ex.tests)),
                                  time=f"{ex.seconds:.3f}")
            ET.SubElement(suite, "properties").extend([
                ET.Element("property", name="score", value=f"{ex.score:g}"),
                ET.Element("property", name="max_score", value=f"{ex.max_score:g}")])
            for t in ex.tests:
                case = ET.SubElement(suite, "testcase", classname=safe(f"{res.submission}.{ex.exercise}", False), name=t.name)
                ET.SubElement(case, "properties").extend([
                    ET.Element("property", name="score", value=f"{t.score:g}"),
                    ET.Element("property", name="max_score", value=f"{t.max_score:g}"),
                    ET.Element("property", name="visibility", value=t.visibility)])
                if not t.passed:
                    fail = ET.SubElement(case, "failure", message=f"{t.score:g}/{t.max_score:g} points")
                    fail.text = safe(t.shown_feedback(reveal_hidden))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
