"""The API-compatibility report: what ``compat.json`` says, blue beside green.

The probe (``loadtests.probe``) walks every case on each color and records what it saw; this module
decides what that means for the migration and renders it (Markdown for ``compat.md`` and CI step
summaries, an HTML section for ``report.html``). Its verdict: green *breaks* a case when green fails
it and blue does not (blue passes it, or blue's contract lacks it: green fails its own promise).
Everything else that differs (statuses, error formats, shapes, routes one contract lacks) is
marked, not failed; defects and secret-looking fields are named per color.

``compat.json`` may come from another machine: every text in it is escaped where it is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.escape import html_text as escape
from analysis.escape import md_cell, md_text

COMPAT_FILE = "compat.json"
COMPAT_MD = "compat.md"
MAX_COMPAT_BYTES = 8 * 1024 * 1024


@dataclass
class CaseRow:
    id: str
    title: str
    cells: dict[str, str]  # color -> "pass 200", "FAIL 404", "—", "skipped"
    differences: list[str] = field(default_factory=list)
    broken: bool = False  # blue passes, green does not


@dataclass
class CompatSummary:
    colors: list[str]
    rows: list[CaseRow]
    breaks: list[str]  # "case: green's problems"
    failures: dict[str, list[str]]  # color -> "case: problems" of every failed case
    defects: list[str]
    secrets: list[str]
    rate_limits: dict[str, dict[str, str]]
    exit_code: int

    @property
    def headline(self) -> str:
        if len(self.colors) < 2:
            color = self.colors[0] if self.colors else "?"
            failed = len(self.failures.get(color, []))
            return f"{color} keeps its contract on every case" if not failed else f"{color} fails {failed} case(s)"
        if self.breaks:
            return f"green breaks {len(self.breaks)} case(s) that blue does not fail"
        return "green passes every case blue passes"


def _cell(result: dict[str, Any] | None) -> str:
    if not result:
        return "not run"
    verdict = str(result.get("verdict", "?"))
    status = result.get("status")
    event = result.get("event")
    detail = f" {status}" if status is not None else (f" ({event})" if event else "")
    if verdict == "absent":
        return "— (not in its contract)"
    if verdict == "skipped":
        return "skipped"
    return ("pass" if verdict == "pass" else "FAIL") + detail


def _top_keys(shape: Any) -> set[str]:
    if isinstance(shape, list) and shape:
        shape = shape[0]
    keys = set(shape) if isinstance(shape, dict) else set()
    return keys - {"_id", "id"}  # both spellings name the same field across the colors


def _differences(blue: dict[str, Any], green: dict[str, Any]) -> list[str]:
    found = []
    b_verdict, g_verdict = blue.get("verdict"), green.get("verdict")
    if b_verdict == "pass" and g_verdict == "absent":
        found.append("missing on green (not in its contract)")
    elif g_verdict == "pass" and b_verdict == "absent":
        found.append("green only")
    if blue.get("status") is not None and green.get("status") is not None and blue["status"] != green["status"]:
        found.append(f"status {blue['status']} → {green['status']}")
    b_format, g_format = blue.get("error_format"), green.get("error_format")
    if b_format and g_format and b_format != g_format:
        found.append(f"error body {b_format} → {g_format}")
    both_answered = blue.get("outcome") == green.get("outcome") == "ok" and blue.get("status") and green.get("status")
    if b_verdict == "pass" and g_verdict == "pass" and both_answered:
        only_b, only_g = (
            _top_keys(blue.get("shape")) - _top_keys(green.get("shape")),
            _top_keys(green.get("shape")) - _top_keys(blue.get("shape")),
        )
        if only_b or only_g:
            parts = [
                f"blue {{{', '.join(sorted(only_b))}}}" if only_b else "",
                f"green {{{', '.join(sorted(only_g))}}}" if only_g else "",
            ]
            found.append("keys only in " + " / ".join(p for p in parts if p))
    for color, result in (("green", green), ("blue", blue)):
        for problem in result.get("problems", []) or []:
            if str(problem).startswith(
                ("route missing", "event missing", "field missing", "defect:", "secret-looking")
            ):
                found.append(f"{color}: {problem}")
    return found


def summarize(document: dict[str, Any]) -> CompatSummary:
    colors = [c for c in ("blue", "green") if c in (document.get("targets") or {})]
    rows: list[CaseRow] = []
    breaks: list[str] = []
    failures: dict[str, list[str]] = {color: [] for color in colors}
    defects: list[str] = []
    found_secrets: list[str] = []
    for case in document.get("cases") or []:
        if not isinstance(case, dict):
            continue
        results = case.get("results") if isinstance(case.get("results"), dict) else {}
        case_id = str(case.get("id", "?"))
        row = CaseRow(case_id, str(case.get("title", "")), {color: _cell(results.get(color)) for color in colors})
        for color in colors:
            result = results.get(color) or {}
            problems = [str(p) for p in result.get("problems", []) or []]
            if result.get("verdict") == "fail":
                failures[color].append(f"{case_id}: {'; '.join(problems) or 'failed'}")
            defects += [f"{color} {case_id}: {p.removeprefix('defect: ')}" for p in problems if p.startswith("defect:")]
            found_secrets += [f"{color} {case_id}: {p}" for p in problems if p.startswith("secret-looking")]
        if len(colors) == 2:
            blue, green = results.get("blue") or {}, results.get("green") or {}
            row.differences = _differences(blue, green)
            # A break: green fails a case blue does not (blue passes it, or its contract lacks it).
            if green.get("verdict") == "fail" and blue.get("verdict") in ("pass", "absent", "skipped", None):
                row.broken = True
                breaks.append(f"{case_id}: {'; '.join(map(str, green.get('problems', []) or [])) or 'failed'}")
        rows.append(row)
    # Two colors: does green break what blue passes? One color: does it keep its own contract?
    exit_code = int(bool(breaks)) if len(colors) == 2 else int(any(failures.values()))
    limits = {c: dict(document["targets"][c].get("rate_limits") or {}) for c in colors}
    return CompatSummary(colors, rows, breaks, failures, sorted(set(defects)), found_secrets, limits, exit_code)


def load(path: Path) -> dict[str, Any]:
    """``compat.json`` as a dict; ``ValueError`` with a one-line reason when it is not one."""
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    if path.stat().st_size > MAX_COMPAT_BYTES:
        raise ValueError(f"{path} is larger than {MAX_COMPAT_BYTES // (1024 * 1024)} MB")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise ValueError(f"{path} is not readable JSON: {type(error).__name__}") from None
    if not isinstance(document, dict) or document.get("schema_version") != 1:
        raise ValueError(f"{path} is not a compat.json of schema version 1")
    return document


def with_summary(document: dict[str, Any]) -> dict[str, Any]:
    """The document plus its ``summary`` (breaks, defects, secrets, exit code), as written to disk."""
    summary = summarize(document)
    return {
        **document,
        "summary": {
            "headline": summary.headline,
            "exit_code": summary.exit_code,
            "breaks": summary.breaks,
            "failures": summary.failures,
            "defects": summary.defects,
            "secrets": summary.secrets,
            "differences": {row.id: row.differences for row in summary.rows if row.differences},
        },
    }


# -- Markdown ---------------------------------------------------------------------------------------


def markdown(document: dict[str, Any]) -> str:
    summary = summarize(document)
    lines = [
        f"## API compatibility ({md_text(document.get('mode', 'probe'))})",
        "",
        f"**{md_text(summary.headline)}**",
        "",
    ]
    if summary.breaks:
        lines += ["Broken by green:", ""] + [f"- {md_text(item)}" for item in summary.breaks] + [""]
    for title, items in (("Defects", summary.defects), ("Secret-looking fields", summary.secrets)):
        if items:
            lines += [f"{title}:", ""] + [f"- {md_text(item)}" for item in items] + [""]
    header = (
        ["case", *summary.colors, "differences"] if len(summary.colors) == 2 else ["case", *summary.colors, "problems"]
    )
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary.rows:
        extra = row.differences if len(summary.colors) == 2 else [
            p for color in summary.colors for p in summary.failures[color] if p.startswith(row.id + ":")
        ]  # fmt: skip
        mark = "**" if row.broken else ""
        cells = [
            f"{mark}{md_cell(row.id)}{mark}",
            *(md_cell(row.cells[c]) for c in summary.colors),
            md_cell("; ".join(extra)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for color, limits in summary.rate_limits.items():
        if limits:
            shown = ", ".join(f"{md_cell(k)} {md_cell(v)}" for k, v in sorted(limits.items()))
            lines += ["", f"Rate-limit headers on {color}'s login: {shown}"]
    return "\n".join(lines) + "\n"


# -- HTML ---------------------------------------------------------------------------------------------


def html_section(document: dict[str, Any]) -> str:
    """The section ``report.html`` shows when the run directory has a ``compat.json``."""
    summary = summarize(document)
    css = "fail" if summary.exit_code else "pass"
    parts = [f"<h2>API compatibility ({escape(str(document.get('mode', 'probe')))})</h2>",
             f'<div class="banner {css}">{escape(summary.headline)}</div>']  # fmt: skip
    for title, items in (("Broken by green", summary.breaks), ("Defects", summary.defects),
                         ("Secret-looking fields", summary.secrets)):  # fmt: skip
        if items:
            parts.append(f"<p>{escape(title)}:</p><ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")
    head = "".join(f"<th>{escape(h)}</th>" for h in ("case", *summary.colors, "differences"))
    body = []
    for row in summary.rows:
        cells = "".join(f"<td>{escape(row.cells[c])}</td>" for c in summary.colors)
        mark = ' class="fail"' if row.broken else ""
        body.append(f"<tr><td{mark}>{escape(row.id)}</td>{cells}<td>{escape('; '.join(row.differences))}</td></tr>")
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    return "\n".join(parts)
