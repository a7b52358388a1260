"""The Locust web UI face: the profile's target settings as custom parameters on the start form.

Locust lists arguments registered with ``include_in_web_ui=True`` on its start form and hands the
edited values to ``environment.parsed_options``; ``effective_target`` applies them when a user is
created, so a new test in the same session can point at another URL or dialect variant. A URL
entered there obeys the same loopback rule as the command line (``--allow-remote`` in the run
config names the only other hosts allowed).
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Any

from loadtests.config import RunConfig, TargetConfig
from loadtests.targets import check_url

# option name -> (color, which setting)
_OPTIONS = {
    "blue_url": ("blue", "url"),
    "green_url": ("green", "url"),
    "blue_ws_path": ("blue", "ws_path"),
    "green_rest_base": ("green", "rest_base"),
    "green_event_style": ("green", "event_style"),
}


def add_arguments(parser: Any, config: RunConfig) -> None:
    """Register the target settings of ``config`` as custom arguments shown in the web UI."""
    by_color = {target.color: target for target in config.targets}
    for option, (color, setting) in _OPTIONS.items():
        target = by_color.get(color)
        if target is None:
            continue
        default = target.url if setting == "url" else getattr(target.dialect, setting)
        flag = "--" + option.replace("_", "-")
        extra: dict[str, Any] = {"choices": ["kebab", "snake"]} if setting == "event_style" else {}
        parser.add_argument(  # on the parser itself: argument groups do not take include_in_web_ui
            flag, default=default, include_in_web_ui=True, help=f"{color}: {setting.replace('_', ' ')}", **extra
        )


def effective_target(target: TargetConfig, options: Namespace | None, allow_remote: tuple[str, ...]) -> TargetConfig:
    """``target`` with the values edited on the start form (checked like command-line URLs)."""
    if options is None:
        return target
    url, dialect_changes = target.url, {}
    for option, (color, setting) in _OPTIONS.items():
        value = getattr(options, option, None)
        if color != target.color or value in (None, ""):
            continue
        if setting == "url":
            if value != target.url:  # checked once already when the run was planned
                url = check_url(str(value), allow_remote=allow_remote, flag="--" + option.replace("_", "-"))
        else:
            dialect_changes[setting] = value
    if url == target.url and not dialect_changes:
        return target
    dialect = target.dialect.model_validate({**target.dialect.model_dump(), **dialect_changes})
    return target.model_copy(update={"url": url, "dialect": dialect})


SLO_TAB_KEY = "slo"
SLO_COLUMNS = (
    ("check", "SLO"),
    ("target", "Target"),
    ("statistic", "Statistic"),
    ("observed", "Current"),
    ("threshold", "Threshold"),
    ("samples", "Samples"),
    ("state", "State"),
)


ARRIVALS_TAB_KEY = "arrivals"
ARRIVALS_COLUMNS = (
    ("target", "Target"),
    ("scenario", "Scenario"),
    ("planned", "Target rate (/s)"),
    ("achieved", "Achieved rate (/s)"),
    ("missed", "Missed (last 10 s)"),
)


def install_slo_tab(environment: Any, live_file: Path, arrivals_file: Path | None = None) -> None:
    """An "SLO" tab in Locust's web UI (and, for an open-model profile, an "Arrivals" tab: each
    scenario's target and achieved rate): Locust's extension points are ``extendedTabs`` and
    ``extendedTables`` in the template arguments, filled from ``extended_stats`` in the
    ``/stats/requests`` answer it polls every two seconds. The SLO rows are the orchestrator's live
    judgement (``live-slo.json``), so the tab shows exactly what the final verdict will compute;
    the arrivals are read from ``arrivals.jsonl`` as it is written."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    tabs = [(SLO_TAB_KEY, "SLO", SLO_COLUMNS)]
    if arrivals_file is not None:
        tabs.append((ARRIVALS_TAB_KEY, "Arrivals", ARRIVALS_COLUMNS))
    web_ui.template_args["extendedTabs"] = [{"title": title, "key": key} for key, title, _ in tabs]
    web_ui.template_args["extendedTables"] = [
        {"key": key, "structure": [{"key": name, "title": title} for name, title in columns]}
        for key, _, columns in tabs
    ]
    rates = None
    if arrivals_file is not None:
        from loadtests.progress import ArrivalRates

        rates = ArrivalRates(arrivals_file)

    @web_ui.app.after_request
    def add_slo_rows(response):  # type: ignore[no-untyped-def]
        from flask import request

        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        try:
            rows = json.loads(live_file.read_text(encoding="utf-8")).get("checks", [])
        except (OSError, ValueError):
            rows = []  # not judged yet
        body = response.get_json(silent=True) or {}
        extended = [*body.get("extended_stats", []), {"key": SLO_TAB_KEY, "data": rows}]
        if rates is not None:
            import time

            rates.poll(time.time())
            arrivals = [
                {"target": target, "scenario": scenario, "planned": round(planned, 2), "achieved": round(begun, 2),
                 "missed": missed}
                for (target, scenario), (planned, begun, missed) in sorted(rates.by_scenario.items())
            ]  # fmt: skip
            extended.append({"key": ARRIVALS_TAB_KEY, "data": arrivals})
        response.set_data(json.dumps({**body, "extended_stats": extended}))
        return response
