"""A verdict as JUnit XML, for CI systems that show test reports: one testcase per check.

A failed check is a ``<failure>`` carrying observed vs threshold; a check with no verdict is
``<skipped>`` (with the reason); a run that cannot be judged (status ``invalid``) adds an errored
``run`` testcase so the report is red even when every check was skipped. Returns text; the CLI
writes it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from analysis.escape import xml_text
from analysis.slo import SloResult, Verdict


def _testcase(suite: ET.Element, check: SloResult) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=xml_text(f"loadbench.slo.{check.target}"), name=xml_text(check.name), time="0"
    )
    if check.passed is False:
        failure = ET.SubElement(
            case,
            "failure",
            type="SLO",
            message=xml_text(f"observed {check.observed_text()}, threshold {check.threshold_text()}"),
        )
        failure.text = xml_text(check.explain())
    elif check.passed is None:
        ET.SubElement(case, "skipped", message=xml_text(f"no verdict: {check.reason}"))
    out = ET.SubElement(case, "system-out")
    out.text = xml_text(
        f"{check.description or check.name}: {check.metric} {check.statistic} over {check.samples} samples "
        f"({', '.join(f'{key}={value}' for key, value in check.selector.items())})"
    )


def junit_xml(verdict: Verdict, *, suite_name: str) -> str:
    failures = len(verdict.failed)
    skipped = len(verdict.undecided)
    errors = 1 if verdict.run_status == "invalid" else 0
    root = ET.Element("testsuites", name="loadbench")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=xml_text(suite_name),
        tests=str(len(verdict.checks) + errors),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time="0",
    )
    properties = ET.SubElement(suite, "properties")
    for key, value in (
        ("exit_code", verdict.exit_code),
        ("run_status", verdict.run_status),
        ("schema_version", verdict.schema_version),
    ):
        ET.SubElement(properties, "property", name=key, value=xml_text(value))
    if errors:
        case = ET.SubElement(suite, "testcase", classname="loadbench.run", name="run", time="0")
        error = ET.SubElement(case, "error", type="InvalidRun", message="the run cannot be judged")
        error.text = xml_text("\n".join(verdict.notes))
    for check in verdict.checks:
        _testcase(suite, check)
    if verdict.notes:
        err = ET.SubElement(suite, "system-err")
        err.text = xml_text("\n".join(verdict.notes))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
