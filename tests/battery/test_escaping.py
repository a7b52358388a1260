"""Text from a run is escaped for the format it is written into (issue 13, item 5): a metric or
target name holding ``|``, a newline, ``## heading`` or ``<script>`` neither breaks summary.md's
tables nor lands raw in $GITHUB_STEP_SUMMARY, comparison.md, the notebook's Markdown, junit.xml
or the HTML reports."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hostile_runs import cli, small_run

TARGET = "gr|een\n## owned <script>alert('t')</script>"
NAME = "chat.history|x\r\n## heading <script>alert(1)</script> **bold** [link](http://evil) $\\notacommand{$"
EVIL = ("blue", TARGET)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose second target and one metric carry Markdown and HTML."""
    return small_run(tmp_path_factory.mktemp("hostile") / "run", names=(NAME, "chat.complete", "health"), targets=EVIL)


def assert_safe_markdown(text: str, *, title: str = "## ") -> None:
    lines = text.splitlines()
    headings = [line for line in lines if line.lstrip().startswith("#")]
    assert headings == [line for line in lines[:1] if line.startswith(title)], headings
    assert "<script" not in text.lower(), [line for line in lines if "<script" in line.lower()]
    tables: list[list[str]] = []
    for line in lines:
        if line.startswith("|"):
            if not tables or not tables[-1]:
                tables.append([])
            tables[-1].append(line)
        elif tables and tables[-1]:
            tables.append([])
    for table in filter(None, tables):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, table  # every row has the header's columns


def test_summary_and_step_summary_are_escaped(hostile: Path, tmp_path: Path) -> None:
    step_summary = tmp_path / "step-summary.md"
    result = cli("check", hostile, env={"GITHUB_STEP_SUMMARY": str(step_summary)})
    assert result.code in (0, 1), result.stderr
    summary = (hostile / "summary.md").read_text()
    assert_safe_markdown(summary)
    assert_safe_markdown(step_summary.read_text())
    assert "&lt;script&gt;" in summary and "gr\\|een" in summary  # shown, not dropped


def test_junit_is_well_formed_xml_with_the_names_in_it(hostile: Path) -> None:
    assert cli("check", hostile).code in (0, 1)
    root = ET.parse(hostile / "junit.xml").getroot()
    classnames = {case.get("classname") for case in root.iter("testcase")}
    assert any(name and "<script>" in name for name in classnames), classnames  # escaped by XML, read back


def test_comparison_markdown_is_escaped(hostile: Path, tmp_path: Path) -> None:
    step_summary = tmp_path / "step-summary.md"
    result = cli(
        "compare", hostile, "--color-b", TARGET, "--no-figures", "--results", tmp_path / "index",
        env={"GITHUB_STEP_SUMMARY": str(step_summary)},
    )  # fmt: skip
    assert result.code in (0, 1), result.stderr
    assert_safe_markdown((hostile / "comparison.md").read_text())
    assert_safe_markdown(step_summary.read_text())
    html = (hostile / "comparison.html").read_text()
    assert "<script" not in html.lower()


def test_the_notebook_markdown_is_escaped(hostile: Path) -> None:
    from analysis.compare import compare_paired
    from analysis.compare_report import conclusion_markdown, metric_markdown
    from analysis.load import load_run

    comparison = compare_paired(load_run(hostile), color_b=TARGET)
    assert_safe_markdown(conclusion_markdown(comparison), title="\0")
    for metric in comparison.metrics:
        line = metric_markdown(metric)
        assert "\n" not in line and "<script" not in line.lower(), line


def test_the_notebook_uses_the_escaping_entry_points() -> None:
    import json

    from battery_helpers import ROOT

    notebook = json.loads((ROOT / "notebooks" / "blue_vs_green.ipynb").read_text())
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "Markdown(report.conclusion_markdown(comparison))" in code
    assert "Markdown(report.metric_markdown(metric))" in code
    assert "report.conclusion(comparison)" not in code


def test_report_html_and_plots_survive_the_names(hostile: Path) -> None:
    result = cli("report", hostile)
    assert result.code == 0, result.stderr
    html = (hostile / "report.html").read_text()
    assert "<script" not in html.lower()


# -- the escaping module itself ---------------------------------------------------------------------
@pytest.mark.parametrize("text", [NAME, TARGET, "a\\|b", "`x`", "\x00\x07 bell", "&amp; <b>"])
def test_each_format_keeps_the_text_inert(text: str) -> None:
    from analysis.escape import html_text, md_cell, md_text, mpl_text, xml_text

    cell = md_cell(text)
    assert "\n" not in cell and "\r" not in cell and not re.search(r"(?<!\\)\|", cell)
    assert "<" not in md_text(text) and "\n" not in md_text(text)
    assert "<" not in html_text(text) and '"' not in html_text(text)
    ET.fromstring(f"<a b={xml_attr(xml_text(text))}>{xml_body(xml_text(text))}</a>")
    assert mpl_text(text).count("$") == mpl_text(text).count("\\$")


def xml_attr(text: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(text)


def xml_body(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)


def test_the_terminal_prints_run_text_and_paths_as_they_are(tmp_path: Path) -> None:
    # rich reads `[...]` as markup: a closing tag that opened nothing raised MarkupError (a
    # traceback), and `[blue]` in `--quiet`'s verdict line was swallowed as a colour.
    run = small_run(tmp_path / "run [/x] [red]", names=("chat.history [/y]", "chat.complete", "health"))
    result = cli("check", run)
    assert result.code in (0, 1, 3), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "run [/x] [red]/verdict.json" in result.stdout
