"""Text from a run, made inert for the format it is written into: one function per format.

Everything a run directory holds is untrusted (a metric or target name, a note, a reason, a URL,
a profile name): it may carry ``|``, a newline, ``## heading``, ``<script>``, ``$`` or control
characters. Renderers pass every such text through the function of their format, and only that;
text the suite writes itself (headings, table rules, its own words) is not escaped.

  md_cell   a Markdown table cell (summary.md, comparison.md, $GITHUB_STEP_SUMMARY)
  md_text   Markdown prose: a line or part of one (a heading's title, a note, a list item)
  html_text HTML text or a quoted attribute value (report.html, comparison.html)
  xml_text  JUnit XML text or attribute value (junit.xml; ElementTree escapes the markup itself)
  mpl_text  a matplotlib title, label or legend (``$`` would start mathtext, which can fail)
"""

from __future__ import annotations

import html
import re

__all__ = ["html_text", "md_cell", "md_text", "mpl_text", "xml_text"]

# Line breaks and other control characters (C0, DEL, C1) and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# ASCII punctuation that Markdown (CommonMark, GitHub) gives a meaning to inside a line; an
# underscore only where it can open or close emphasis (not between two letters: `http_p95` stays).
# Parentheses and `!` mean something only after `]` or before `[`, which are escaped.
_MARKDOWN = re.compile(r"([\\`*\[\]#~|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
# A list marker at the start of a line ("- x", "+ x", "1. x"; not "46.02 ms" or "-3").
_LEADING = re.compile(r"^(\s*)([-+]|\d+\.)(?=\s|$)")
# Characters XML 1.0 does not allow at all, even escaped.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _one_line(text: object) -> str:
    return _CONTROL.sub(" ", str(text))


def md_text(text: object) -> str:
    """Markdown prose: one line (line breaks and control characters become spaces), ``& < >`` as
    entities (no raw HTML), every punctuation mark Markdown reads as syntax backslash-escaped
    (``#``, ``*``, ``[``, ``|``, backquote …; ``_`` where it could start emphasis) and a leading
    list marker too: the text shows exactly, and does nothing."""
    line = _one_line(text)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _MARKDOWN.sub(r"\\\1", line)
    return _LEADING.sub(lambda match: f"{match[1]}{match[2][:-1]}\\{match[2][-1]}", line, count=1)


def md_cell(text: object) -> str:
    """A Markdown table cell: ``md_text`` (``|`` is escaped there too, so the row keeps its columns)."""
    return md_text(text)


def html_text(text: object) -> str:
    """HTML text or a double- or single-quoted attribute value."""
    return html.escape(str(text), quote=True)


def xml_text(text: object) -> str:
    """A JUnit XML text or attribute value: the characters XML 1.0 forbids (NUL, most control
    characters, lone surrogates) become U+FFFD; ElementTree escapes ``& < > "`` when it writes."""
    return _NOT_XML.sub("\ufffd", str(text))


def mpl_text(text: object) -> str:
    """A matplotlib text: ``$`` escaped (it would start mathtext, whose parser can fail), one line."""
    return _one_line(text).replace("$", r"\$")
