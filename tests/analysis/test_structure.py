"""The shape of ``analysis/``: no import circle between its modules (counting imports inside
functions and under ``TYPE_CHECKING``: a circle hidden there is still a circle), no module over the
size a reader can hold, and a public surface whose every name resolves without importing the heavy
libraries up front."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ANALYSIS = Path(__file__).resolve().parents[2] / "analysis"
MAX_LINES = 500


def _module(path: Path) -> str:
    return "analysis" if path.stem == "__init__" else f"analysis.{path.stem}"


def _imports() -> dict[str, set[str]]:
    """Every import, wherever it sits, from one ``analysis`` module of another."""
    modules = {_module(path): path for path in ANALYSIS.glob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            graph[name] |= {target for target in targets if target in modules and target not in (name, "analysis")}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_between_analysis_modules() -> None:
    assert _circles(_imports()) == []


def test_the_circle_finder_finds_one() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_analysis_module_is_oversized() -> None:
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in ANALYSIS.glob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


@pytest.mark.e2e
def test_the_public_surface_resolves_lazily() -> None:
    code = (
        "import sys, analysis\n"
        "assert 'pandas' not in sys.modules and 'scipy' not in sys.modules, 'analysis imported eagerly'\n"
        "missing = [name for name in analysis.__all__ if getattr(analysis, name, None) is None]\n"
        "assert not missing, missing\n"
        "from analysis import compat, compare_report\n"
        "print(len(analysis.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 30
