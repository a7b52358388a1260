"""Text renderings of a verdict: Markdown summary and the per-color key-metrics table (as rows).

Returns strings and lists; printing and writing happen in the CLI. ``metric_rows`` returns the
run's text as it is (each renderer escapes it for its format); ``summary_markdown`` escapes every
text that came from the run with ``analysis.escape`` (a name may hold ``|``, a newline or HTML).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from analysis.escape import md_cell, md_text
from analysis.slo import SloResult, Verdict
from analysis.stats import MetricSummary
from loadtests.slo_spec import percentile_of

# The metrics a reader looks at first, in this order; others follow alphabetically.
KEY_METRICS = (
    "auth.login",
    "chat.connect",
    "chat.history",
    "chat.create",
    "chat.accepted",
    "chat.first_token",
    "chat.complete",
    "chat.rtt",
    "health",
)

TABLE_COLUMNS = ("target", "metric", "kind", "count", "p50 ms", "p95 ms", "p99 ms", "errors", "SLO")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _order(summary: MetricSummary) -> tuple[str, int, str]:
    rank = KEY_METRICS.index(summary.name) if summary.name in KEY_METRICS else len(KEY_METRICS)
    return summary.target, rank, summary.name


def _slo_hint(summary: MetricSummary, checks: list[SloResult]) -> str:
    """The latency threshold that applies to this metric on this target, for the table."""
    for check in checks:
        kind_ok = check.selector.get("kind", "any") in ("any", summary.kind)
        if (
            check.target == summary.target
            and check.selector.get("source") == "samples"
            and percentile_of(check.statistic) is not None
            and kind_ok
            and fnmatchcase(summary.name, check.metric)
        ):
            return f"{check.statistic} {check.threshold_text()}"
    return ""


def metric_rows(summaries: list[MetricSummary], verdict: Verdict | None = None) -> list[tuple[str, ...]]:
    checks = verdict.checks if verdict else []
    rows = []
    for summary in sorted(summaries, key=_order):
        failures = summary.failures
        errors = str(failures)
        if failures:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items()) if k not in ("ok", "refused"))
            errors = f"{failures} ({detail})"
        rows.append(
            (
                summary.target,
                summary.name,
                summary.kind,
                str(summary.count),
                _ms(summary.p50_ms),
                _ms(summary.p95_ms),
                _ms(summary.p99_ms),
                errors,
                _slo_hint(summary, checks),
            )
        )
    return rows


def _mark(check: SloResult) -> str:
    return {True: "pass", False: "**FAIL**", None: "no verdict"}[check.passed]


def verdict_line(verdict: Verdict) -> str:
    if verdict.passed:
        return "PASSED"
    failed = ", ".join(check.check_id for check in verdict.failed)
    if verdict.exit_code == 1:
        return f"FAILED (exit 1): {failed}"
    undecided = ", ".join(check.check_id for check in verdict.undecided if check.required)
    return f"NO VERDICT (exit {verdict.exit_code})" + (f": too few samples for {undecided}" if undecided else "")


def summary_markdown(verdict: Verdict, summaries: list[MetricSummary], *, title: str) -> str:
    """``summary.md`` (and the step summary). ``title`` holds run text (the profile's name)."""
    lines = [f"## {md_text(title)}: {md_text(verdict_line(verdict))}", ""]
    lines += [f"> {md_text(note)}" for note in verdict.notes]
    if verdict.notes:
        lines.append("")
    lines += [
        "| check | target | statistic | observed | threshold | samples | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for check in verdict.checks:
        cells = (
            check.name,
            check.target,
            f"{check.metric} {check.statistic}",
            check.observed_text(),
            check.threshold_text(),
            str(check.samples),
        )
        lines.append("| " + " | ".join(map(md_cell, cells)) + f" | {_mark(check)} |")
    lines += ["", "Key metrics (steady state; percentiles over ok samples only):", ""]
    lines += ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in metric_rows(summaries, verdict)]
    return "\n".join(lines) + "\n"
