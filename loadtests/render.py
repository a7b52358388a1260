"""What ``loadbench`` prints in a terminal (or a CI log): rich tables and verdict lines, rendered
from results the commands got from the library. Only the edge prints: nothing here computes a
result, reads a run directory or decides an exit code.

Text that came from a run (names, notes, reasons) is escaped before rich sees it: it is data,
never markup. Analysis is imported where it is used, so that ``loadbench --help`` stays fast and
imports no plotting library.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loadtests.errors import ConfigError

__all__ = [
    "console",
    "err_console",
    "json_result",
    "print_comparison",
    "print_compat",
    "print_findings",
    "print_frame",
    "print_judgement",
    "print_outputs",
    "print_profiles",
    "verdict_summary",
    "warn",
]

# A CI log is not a terminal: rich would wrap tables at 80 columns there.
_WIDTH = None if sys.stdout.isatty() else 150
console = Console(stderr=False, highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def warn(text: str) -> None:
    """One line on stderr; ``text`` may hold run text or paths, so rich reads no markup in it."""
    err_console.print(escape(text))


# -- a run's verdict -----------------------------------------------------------------------------
def verdict_summary(verdict) -> str:  # type: ignore[no-untyped-def]
    from analysis.report import verdict_line

    return f"verdict: {verdict_line(verdict)}"


def json_result(outcome, verdict: dict[str, Any] | None) -> str:  # type: ignore[no-untyped-def]
    """The run's verdict (exactly its verdict.json) plus where the run lives, as one JSON document."""
    return json.dumps(
        {
            "run_dir": str(outcome.run_dir),
            "status": outcome.status,
            "exit_code": outcome.exit_code,
            "reason": outcome.reason or None,
            "verdict": verdict,
        },
        indent=2,
    )


def print_outputs(run_dir: Path) -> None:
    for label, path in (("summary", run_dir / "summary.md"), ("junit", run_dir / "junit.xml"),
                        ("report", run_dir / "report.html"), ("plots", run_dir / "plots")):  # fmt: skip
        if path.exists():
            console.print(escape(f"{label:>8}: {path}"))


def print_judgement(judged) -> None:  # type: ignore[no-untyped-def]
    from analysis.report import TABLE_COLUMNS, metric_rows, verdict_line

    verdict = judged.verdict
    table = Table(title="key metrics (steady state, ok samples only in percentiles)", title_justify="left")
    for column in TABLE_COLUMNS:
        table.add_column(column, justify="right" if column.endswith(("ms", "count")) else "left")
    for row in metric_rows(judged.summaries, verdict):
        table.add_row(*(escape(cell) for cell in row))  # run text: no rich markup
    console.print(table)
    for check in verdict.checks:
        mark = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "[yellow]no verdict[/yellow]"}[
            check.passed
        ]
        console.print(f"  {mark}  {escape(check.explain())}")
    for note in verdict.notes:
        console.print(f"  [yellow]note[/yellow] {escape(note)}")
    colour = "green" if verdict.passed else ("red" if verdict.exit_code == 1 else "yellow")
    where = escape(str(judged.run.directory.path / "verdict.json"))
    console.print(f"verdict: [{colour}]{escape(verdict_line(verdict))}[/{colour}]  → {where}")


# -- blue vs green -------------------------------------------------------------------------------
def print_comparison(comparison, written: list[Path], note: str) -> None:  # type: ignore[no-untyped-def]
    from analysis.compare_report import conclusion, headline, scorecard_frame

    frame = scorecard_frame(comparison).drop(columns=["why"])
    table = Table(
        title=f"{comparison.b.label} (B) vs {comparison.a.label} (A), {comparison.design}", title_justify="left"
    )
    for column in frame.columns:
        table.add_column(str(column), justify="right" if column in ("n A", "n B") else "left")
    styles = {"worse": "red", "better": "green", "inconclusive": "yellow", "same": ""}
    for row in frame.itertuples(index=False):
        cells = [escape(str(cell)) for cell in row]
        style = styles[row.verdict]
        cells[2] = f"[{style}]{cells[2]}[/{style}]" if style else cells[2]
        table.add_row(*cells)
    console.print(table)
    if note:
        console.print(f"[dim]{escape(note)}[/dim]")
    for warning in comparison.warnings:
        console.print(f"  [yellow]note[/yellow] {escape(warning)}")
    console.print(escape(conclusion(comparison)))
    colour = {"promote": "green", "hold": "yellow", "rollback": "red"}[comparison.scorecard.decision]
    console.print(f"scorecard: [{colour}]{escape(headline(comparison))}[/{colour}]")
    console.print(escape(f"comparison: {', '.join(str(path) for path in written)}"))


def print_compat(document: dict) -> None:  # type: ignore[type-arg]
    """The probe's blue ↔ green table of every case, then what breaks and why."""
    from analysis.compat import summarize

    summary = summarize(document)
    table = Table(title="API compatibility (CONTRACT.md, case by case)", title_justify="left")
    table.add_column("case")
    for color in summary.colors:
        table.add_column(color)
    table.add_column("differences" if len(summary.colors) == 2 else "problems")
    for row in summary.rows:
        extra = row.differences or [
            p for c in summary.colors for p in summary.failures[c] if p.startswith(row.id + ":")
        ]
        name = f"[red]{escape(row.id)}[/red]" if row.broken else escape(row.id)
        table.add_row(name, *(escape(row.cells[c]) for c in summary.colors), escape("; ".join(extra)))
    console.print(table)
    for title, items in (("green breaks", summary.breaks), ("defect", summary.defects),
                         ("secret-looking field", summary.secrets)):  # fmt: skip
        for item in items:
            console.print(f"  [yellow]{title}[/yellow] {escape(item)}")
    colour = "red" if summary.exit_code else "green"
    console.print(f"[{colour}]{escape(summary.headline)}[/{colour}]")


# -- tables of the other commands ----------------------------------------------------------------
def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def print_frame(frame: Any, *, title: str) -> None:
    """A pandas frame as a table (missing cells blank; cells are run text, escaped)."""
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*("" if _is_missing(cell) else escape(str(cell)) for cell in row))
    console.print(table)


def print_findings(findings: Iterable[Any]) -> None:
    """``loadbench doctor``'s checks: what was found and what to change."""
    table = Table(show_edge=False)
    for column in ("check", "", "found", "what to change"):
        table.add_column(column)
    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]"}
    for finding in findings:
        table.add_row(finding.check, marks[finding.level], finding.found, finding.advice)
    console.print(table)


def print_profiles(profiles: Sequence[tuple[str, Any]]) -> None:
    """``(name, Profile or the ConfigError that refused it)`` per profile."""
    table = Table(show_edge=False)
    for column in ("profile", "users", "duration", "what it is for"):
        table.add_column(column)
    for name, profile in profiles:
        if isinstance(profile, ConfigError):
            table.add_row(name, "", "", f"[red]invalid: {profile}[/red]")
            continue
        table.add_row(name, str(profile.users), f"{profile.duration_s:g} s", profile.description)
    console.print(table)
