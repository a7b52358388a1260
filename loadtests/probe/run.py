"""Walk the cases against each color and collect what they saw, as the ``compat.json`` document.

Used by ``loadbench probe`` (every case) and by the preflight of ``loadbench run`` (the positive
cases its workload uses). A case never stops the walk: a step it needs that failed before makes it
*skipped*, an unexpected exception (a bug, a target answering nonsense) is recorded as its result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from loadtests import metadata
from loadtests.dialects.base import Dialect
from loadtests.probe.cases import CASES, Case, judge
from loadtests.probe.session import Accounts, ColorProbe, Observation, Skip

COMPAT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ProbeTarget:
    dialect: Dialect
    url: str
    accounts: Accounts
    dialect_options: dict[str, Any]


def select(*, burst: bool = False, uses: Iterable[str] | None = None, positive_only: bool = False) -> list[Case]:
    """The cases to walk: every one (``--burst`` adds the rate-limit burst), or those a workload
    of ``uses`` user classes needs (positive cases only, for the preflight)."""
    wanted = set(uses) if uses is not None else None
    chosen = []
    for case in CASES:
        if case.burst and not burst:
            continue
        if wanted is not None and not (case.uses & wanted):
            continue
        if positive_only and not all(case.expect_for(color) == "ok" for color in ("blue", "green")):
            continue
        chosen.append(case)
    return chosen


def walk(
    target: ProbeTarget,
    cases: list[Case],
    *,
    timeout_s: float = 5.0,
    budget_s: float | None = None,
    on_result: Callable[[Case, Observation | None], bool] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``cases`` in order against one color; returns ``{case id: result}``. ``on_result`` may
    stop the walk (it returns ``False``); ``budget_s`` bounds the walk's time."""
    probe = ColorProbe(dialect=target.dialect, base_url=target.url, accounts=target.accounts, timeout_s=timeout_s)
    results: dict[str, dict[str, Any]] = {}
    deadline = None if budget_s is None else time.monotonic() + budget_s
    try:
        for case in cases:
            if deadline is not None and time.monotonic() > deadline:
                results[case.id] = {"verdict": "skipped", "reason": f"the walk's {budget_s:g} s budget ran out"}
                continue
            observation: Observation | None
            try:
                observation = case.run(probe)
            except Skip as skip:
                results[case.id] = {"verdict": "skipped", "reason": str(skip)}
                continue
            except Exception as error:  # a case must never stop the walk
                results[case.id] = {
                    "verdict": "fail",
                    "problems": [f"probe error: {type(error).__name__}: {error}"[:300]],
                }
                continue
            if observation is None:
                results[case.id] = {"verdict": "absent", "reason": f"not in {target.dialect.color}'s contract"}
            else:
                results[case.id] = judge(case, target.dialect.color, observation).to_json()
            if on_result is not None and not on_result(case, observation):
                break
    finally:
        probe.close()
    results["_rate_limits"] = dict(probe.rate_limits)
    return results


def compat_document(targets: dict[str, ProbeTarget], walked: dict[str, dict[str, dict[str, Any]]],
                    cases: list[Case], *, mode: str) -> dict[str, Any]:  # fmt: skip
    """The ``compat.json`` document (schema in results/README.md) before analysis adds its summary."""
    return {
        "schema_version": COMPAT_SCHEMA_VERSION,
        "mode": mode,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "suite": {"versions": metadata.versions(), "git_sha": metadata.git_sha()},
        "targets": {
            color: {
                "url": target.url,
                "dialect": target.dialect_options,
                "rate_limits": walked[color].get("_rate_limits", {}),
            }
            for color, target in targets.items()
        },
        "cases": [
            {
                "id": case.id,
                "group": case.group,
                "title": case.title,
                "expect": {color: case.expect_for(color) for color in targets},
                "results": {color: walked[color][case.id] for color in targets if case.id in walked[color]},
            }
            for case in cases
        ],
    }
