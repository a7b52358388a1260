"""Whether an observed answer keeps its color's contract: a verdict and the problems that decide it."""

from __future__ import annotations

from loadtests.dialects.base import Outcome
from loadtests.probe.cases.registry import Case
from loadtests.probe.observe import has_path, route_missing
from loadtests.probe.session import Observation


def judge(case: Case, color: str, observation: Observation) -> Observation:
    """Fill ``verdict`` and ``problems``: does this answer keep the color's contract?"""
    problems = list(observation.problems)  # a case may have named a defect already
    expect = case.expect_for(color)
    body = observation.body
    if observation.status is not None and route_missing(observation.status, body) and expect == "ok":
        observation.route_missing = True
        problems.append(f"route missing: {observation.request} answered HTTP {observation.status}")
    elif expect == "ok" and observation.outcome != Outcome.OK.value:
        what = observation.reason or observation.event or observation.outcome
        if observation.outcome == "timeout" and observation.status is None:
            problems.append(f"event missing: {what}")
        else:
            problems.append(f"failed ({observation.outcome}): {what}")
    elif expect == "refused" and observation.outcome == Outcome.OK.value:
        problems.append("accepted what the contract says is refused")
    elif expect == "refused" and observation.outcome == "timeout" and observation.status is None:
        problems.append(f"no refusal: {observation.event or 'nothing came back'}")
    statuses = case.statuses.get(color) or case.statuses.get("*")
    if statuses and observation.status is not None and observation.status not in statuses:
        problems.append(f"status {observation.status}, contract {' or '.join(map(str, statuses))}")
    for wanted in case.required.get(color, ()) or case.required.get("*", ()):
        if observation.status is not None and observation.outcome == Outcome.OK.value and not has_path(body, wanted):
            problems.append(f"field missing: {wanted}")
    if expect == "refused" and observation.error_format is not None and observation.status is not None:
        wanted_format = _error_format_of(color, observation.status)
        if observation.error_format != wanted_format:
            problems.append(f"error format {observation.error_format}, contract {wanted_format}")
    for found in observation.secrets:
        problems.append(f"secret-looking field {found['path']} ({found['kind']})")
    observation.problems = problems
    observation.verdict = "fail" if problems else "pass"
    return observation


def _error_format_of(color: str, status: int) -> str:
    """CONTRACT.md: blue errors are ``{"detail": …}``; green's are Nest's, except its 2xx soft
    failures, which are ``{"error": …}``."""
    if color == "blue":
        return "fastapi"
    return "error-key" if status < 300 else "nest"
