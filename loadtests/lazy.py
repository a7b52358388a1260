"""Lazy package surfaces (PEP 562): a package names its public API in ``__all__`` and imports a
submodule only when one of its names is first used.

For packages whose submodules must not be imported together or early: ``loadtests.transport``
(``http`` imports Locust, which patches the standard library with gevent; the orchestrator, which
imports ``errors`` through the probe, must stay a plain multi-threaded process) and
``loadtests.swarm`` (``loadtests.profiles`` imports its ``settings``; its sessions need Locust).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_surface"]


def lazy_surface(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose ``exports`` map a submodule to the names it
    gives the surface. A submodule itself (``from loadtests.swarm import preflight``) is imported
    by Python's own machinery, as ever."""
    owner = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = owner.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)  # looked up once
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(owner))

    return __getattr__, __dir__
