"""One self-contained HTML report of a run: verdict, key metrics, run metadata and the plots as
embedded PNGs (no external CSS, script or image: it can be mailed or attached to a CI run).

Returns text; the caller writes it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from analysis import compat
from analysis.escape import html_text as escape
from analysis.judged import Judged
from analysis.plots import PLOTS, Plot
from analysis.report import TABLE_COLUMNS, metric_rows, verdict_line
from analysis.slo import SloResult

__all__ = ["render_report"]

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1250px;
       color: #1d1d1d; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; } th, td { padding: .25em .7em; border-bottom: 1px solid #e4e4e4;
       text-align: left; vertical-align: top; } th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1b7a31; font-weight: 600; } .fail { color: #b3261e; font-weight: 700; }
.none { color: #8a6d00; font-weight: 600; }
.banner { padding: .7em 1em; border-radius: 6px; font-size: 1.15em; font-weight: 600; margin: .8em 0; }
.banner.pass { background: #e6f4ea; } .banner.fail { background: #fce8e6; } .banner.none { background: #fff4d6; }
.note { color: #555; } figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; margin-top: .3em; } .swatch { display: inline-block; width: .8em; height: .8em;
       border-radius: 2px; margin-right: .3em; vertical-align: -1px; }
"""


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if index in numeric else f"<td>{cell}</td>" for index, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _result(check: SloResult) -> str:
    if check.passed is True:
        return '<span class="pass">pass</span>'
    if check.passed is False:
        return '<span class="fail">FAIL</span>'
    return f'<span class="none">no verdict</span><br><span class="note">{escape(check.reason)}</span>'


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _metadata(judged: Judged) -> str:
    run = judged.run
    manifest = run.manifest
    started, ended, steady = run.started_at, run.ended_at, run.steady_state_from
    duration = f"{ended - started:.0f} s" if started is not None and ended is not None else "-"
    ramp = f"{steady - started:.1f} s" if started is not None and steady is not None else "unknown"
    profile = manifest.profile or {}
    rows = [
        ("run directory", escape(str(run.directory.path))),
        ("run id", escape(manifest.run_id)),
        (
            "status",
            escape(manifest.status) + (f" ({escape(manifest.invalid_reason)})" if manifest.invalid_reason else ""),
        ),
        ("profile", f"{escape(manifest.profile_name)}: {escape(str(profile.get('description', '')))}"),
        (
            "load",
            escape(
                f"{profile.get('users', '?')} users, spawn rate {profile.get('spawn_rate', '?')}/s, "
                f"mix {profile.get('mix', {})}"
            ),
        ),
        (
            "targets",
            "<br>".join(
                f"{escape(t.color)}: {escape(t.url)} ({'embedded reference backend' if t.embedded else 'external'})"
                for t in manifest.targets
            )
            or escape(", ".join(run.targets)),
        ),
        ("time", f"{_iso(started)} → {_iso(ended)} ({duration}; ramp-up {ramp}, then steady state)"),
        (
            "recorded",
            f"{int(run.samples['count'].sum()) if len(run.samples) else 0:,} samples in "
            f"{len(run.samples):,} interval rows of {manifest.interval_s:g} s",
        ),
        ("versions", escape(", ".join(f"{k} {v}" for k, v in sorted(manifest.versions.items())))),
        ("git", escape(manifest.git_sha or "-")),
        ("host", escape(", ".join(f"{k}: {v}" for k, v in sorted(manifest.host.items())))),
    ]
    return _table(("", ""), rows)


def _compat_section(run_path: Path) -> str:
    """The preflight's API-compatibility table, when the run has one (``compat.json``)."""
    path = run_path / compat.COMPAT_FILE
    if not path.exists():
        return ""
    try:
        return compat.html_section(compat.load(path))
    except ValueError as error:
        return f'<h2>API compatibility</h2><p class="note">{escape(str(error))}</p>'


def render_report(judged: Judged, plots: Sequence[Plot]) -> str:
    verdict = judged.verdict
    state = "pass" if verdict.passed else ("fail" if verdict.exit_code == 1 else "none")
    checks = _table(
        ("check", "target", "what", "statistic", "observed", "threshold", "samples", "result"),
        (
            (
                escape(c.name),
                escape(c.target),
                escape(c.description or c.metric),
                escape(f"{c.metric} {c.statistic}"),
                escape(c.observed_text()),
                escape(c.threshold_text()),
                f"{c.samples:,}",
                _result(c),
            )
            for c in verdict.checks
        ),
        numeric={4, 6},
    )
    metrics = _table(
        TABLE_COLUMNS,
        ([escape(cell) for cell in row] for row in metric_rows(judged.summaries, verdict)),
        numeric={3, 4, 5, 6},
    )
    notes = "".join(f'<li class="note">{escape(note)}</li>' for note in verdict.notes)
    drawn = {plot.name for plot in plots}
    figures = "".join(
        f'<figure><h3>{escape(plot.title)}</h3><img alt="{escape(plot.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(plot.png).decode("ascii")}">'
        f"<figcaption>{escape(plot.caption)}</figcaption></figure>"
        for plot in plots
    )
    missing = [title for name, title, _, _ in PLOTS if name not in drawn]
    if missing:
        figures += f'<p class="note">Not drawn (no data in this run): {escape(", ".join(missing))}.</p>'
    title = escape(judged.title)
    compatibility = _compat_section(judged.run.directory.path)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body>
<h1>{title}</h1>
<div class="banner {state}">{escape(verdict_line(verdict))} · exit code {verdict.exit_code}</div>
<p class="note">Blue is the legacy backend (FastAPI, native WebSocket), green the new one (NestJS, Socket.IO).
Each target is judged on its own. Latency percentiles are exact (merged HDR histograms) and use successful
samples only; failures (error, soft failure, rate limited, timeout) are counted apart; "refused" is an expected
refusal and counts as neither.</p>
{f"<ul>{notes}</ul>" if notes else ""}
<h2>SLO checks</h2>
{checks}
<h2>Key metrics (steady state)</h2>
{metrics}
<h2>Plots</h2>
{figures}
{compatibility}
<h2>Run</h2>
{_metadata(judged)}
<p class="note">Generated by loadbench from {escape(str(judged.run.directory.path))}; the data behind every number is
in that directory (format described in results/README.md).</p>
</body></html>
"""
