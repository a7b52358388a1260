"""The layering rules of docs/architecture.md, checked on the source: each module's imports (at any
depth, in functions too) must stay on its side of the lines the architecture draws."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (files, modules they must never import, why)
RULES = [
    (
        ["loadtests"],
        ("reference_backend",),
        "the suite works against any deployment: only loadtests/embedded.py starts the reference backend",
    ),
    (["analysis"], ("loadtests.dialects", "loadtests.transport", "loadtests.client"),
     "analysis reads run directories, not protocols"),
    (["reference_backend"], ("loadtests", "analysis"), "the reference backend knows nothing of the suite"),
    (["contract"], ("loadtests", "analysis", "reference_backend"), "the contract belongs to neither side"),
    (["loadtests/dialects"], ("locust", "gevent", "socketio", "websocket", "httpx"), "dialects are sans-IO"),
    (["loadtests/profiles.py", "loadtests/slo_spec.py"], ("analysis",),
     "the profile format does not depend on analysis"),
]  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


# The one module allowed past the reference-backend line: it starts, configures and restarts the
# embedded backends for the orchestrator, the probe and `loadbench serve`.
EXCEPTIONS = {ROOT / "loadtests" / "embedded.py"}


def python_files(where: str) -> list[Path]:
    path = ROOT / where
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [file for file in files if file not in EXCEPTIONS]


@pytest.mark.parametrize(("places", "forbidden", "why"), RULES, ids=[rule[2] for rule in RULES])
def test_layering(places: list[str], forbidden: tuple[str, ...], why: str) -> None:
    broken = [
        f"{path.relative_to(ROOT)} imports {module}"
        for where in places
        for path in python_files(where)
        for module in sorted(imported_modules(path))
        if any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden)
    ]
    assert not broken, f"{why}: " + "; ".join(broken)
