"""Renderings of a ``Comparison``, and the edge that writes them: ``markdown`` (``comparison.md``
and the CI step summary), ``html`` (one self-contained page, figures embedded) and
``write_comparison``, which writes ``comparison.json``, ``.md`` and ``.html``.

This module is the public surface of the renderings (``__all__``): it re-exports the words
(``compare_words``: conclusion, headline), the tables (``compare_tables``) and the figures
(``compare_figures``) that the CLI and the notebook show. Everything but ``write_comparison``
returns values; the CLI and the notebook decide what to show.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis.compare_figures import (
    FIGURES,
    cdf_overlay_figure,
    cdf_overlays_figure,
    errors_figure,
    ladder_figure,
    render_figures,
    resources_figure,
    side_colors,
)
from analysis.compare_json import COMPARISON_HTML, COMPARISON_JSON, COMPARISON_MD, to_json
from analysis.compare_model import Comparison
from analysis.compare_tables import errors_frame, ladder_frame, scorecard_frame
from analysis.compare_words import conclusion, conclusion_markdown, headline, metric_markdown
from analysis.escape import html_text as escape
from analysis.escape import md_cell, md_text
from analysis.plots import Plot
from loadtests.recorder.rundir import RunDirectory, strict_json

__all__ = [
    "FIGURES",
    "cdf_overlay_figure",
    "cdf_overlays_figure",
    "conclusion",
    "conclusion_markdown",
    "errors_figure",
    "errors_frame",
    "headline",
    "html",
    "ladder_figure",
    "ladder_frame",
    "markdown",
    "metric_markdown",
    "render_figures",
    "resources_figure",
    "scorecard_frame",
    "side_colors",
    "write_comparison",
]


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    columns = list(frame.columns)
    lines = ["| " + " | ".join(map(md_cell, columns)) + " |", "|" + "---|" * len(columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(md_cell(cell) for cell in row) + " |")
    return lines


def markdown(comparison: Comparison) -> str:
    """``comparison.md`` (and the step summary): every text from the runs escaped with ``md_text``/``md_cell``."""
    family = comparison.family
    lines = [f"## loadbench compare: {headline(comparison, md_text)}", ""]
    a, b = md_text(comparison.a.label), md_text(comparison.b.label)
    lines += [f"{b} (B) against {a} (A), {comparison.design} design."]
    lines += ["", conclusion_markdown(comparison), ""]
    lines += _markdown_table(scorecard_frame(comparison).drop(columns=["why"]))
    lines += [
        "",
        f"Decision level: alpha = {family.alpha:g} shared by {family.tests} tests ({family.correction}): each at "
        f"{family.decision_alpha:.3g}; {family.draws} bootstrap replicates. Latency percentiles are exact (HDR) over "
        "ok samples; intervals are 95 % percentile bootstraps.",
    ]
    for warning in comparison.warnings:
        lines.append(f"> {md_text(warning)}")
    if comparison.not_compared:
        lines += [
            "",
            "Too sparse to compare: "
            + ", ".join(f"{md_text(s.name)} ({s.n_a}/{s.n_b})" for s in comparison.not_compared),
        ]
    for side, names in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if names:
            lines.append(f"Only in {side}: " + ", ".join(f"{md_text(name)} ({count})" for name, count in names.items()))
    return "\n".join(lines) + "\n"


_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1250px;
       color: #1d1d1d; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: 13px; } th, td { padding: .25em .6em;
       border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; } th { background: #f5f5f5; }
.worse { color: #b3261e; font-weight: 700; } .better { color: #1b7a31; font-weight: 600; }
.inconclusive { color: #8a6d00; } .banner { padding: .7em 1em; border-radius: 6px; font-size: 1.1em;
       font-weight: 600; margin: .8em 0; } .banner.promote { background: #e6f4ea; }
.banner.hold { background: #fff4d6; }
.banner.rollback { background: #fce8e6; } .note { color: #555; } pre { white-space: pre-wrap; background: #fafafa;
       padding: .8em; border: 1px solid #eee; } figure { margin: 1.2em 0; } figure img { max-width: 100%; }
"""


def html(comparison: Comparison, plots: Sequence[Plot]) -> str:
    frame = scorecard_frame(comparison)
    header = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.to_dict(orient="records"):
        cells = []
        for column, value in row.items():
            css = f' class="{value}"' if column == "verdict" else ""
            cells.append(f"<td{css}>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    figures = "".join(
        f'<figure><h3>{escape(plot.title)}</h3><img alt="{escape(plot.title)}" '
        f'src="data:image/png;base64,{base64.b64encode(plot.png).decode("ascii")}">'
        f'<figcaption class="note">{escape(plot.caption)}</figcaption></figure>'
        for plot in plots
    )
    card = comparison.scorecard
    family = comparison.family
    warnings = "".join(f'<li class="note">{escape(w)}</li>' for w in comparison.warnings)
    sides = "".join(
        f"<tr><td>{side}</td><td>{escape(info.label)}</td><td>{escape(info.run_dir)}</td><td>{escape(info.profile)}</td>"
        f"<td>{escape(info.status)}</td><td>{escape(info.started_at)}</td></tr>"
        for side, info in (("A (baseline)", comparison.a), ("B (candidate)", comparison.b))
    )
    title = f"loadbench compare: {comparison.b.label} vs {comparison.a.label}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<div class="banner {card.decision}">{escape(headline(comparison))}</div>
<pre>{escape(conclusion(comparison))}</pre>
{f"<ul>{warnings}</ul>" if warnings else ""}
<h2>Scorecard</h2>
<table><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>
<p class="note">Decision level: alpha = {family.alpha:g} shared by {family.tests} tests
({escape(family.correction)}), each at
{family.decision_alpha:.3g}; {family.draws} bootstrap replicates per side. Latency: exact HDR percentiles of ok samples;
"B vs A" is the p95 ratio with its 95 % bootstrap interval; p is the Kolmogorov-Smirnov test's. Every number is in
comparison.json.</p>
<h2>Figures</h2>
{figures}
<h2>Runs</h2>
<table><thead><tr><th>side</th><th>label</th><th>run directory</th><th>profile</th><th>status</th><th>started</th></tr>
</thead><tbody>{sides}</tbody></table>
</body></html>
"""


def write_comparison(comparison: Comparison, out: Path, *, figures: bool = True) -> list[Path]:
    """``comparison.json``, ``comparison.md`` and ``comparison.html`` (figures embedded) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    directory = RunDirectory(out)  # the one writer: atomic, through no symbolic link in ``out``
    return [
        directory.write_text(name, text)
        for name, text in (
            (COMPARISON_JSON, strict_json(to_json(comparison)) + "\n"),
            (COMPARISON_MD, markdown(comparison)),
            (COMPARISON_HTML, html(comparison, render_figures(comparison) if figures else [])),
        )
    ]
