"""The embedded reference backend: blue (FastAPI + native WebSocket) and green (REST + Socket.IO).

Public surface: ``create_app(settings)``, ``serve(settings, port_file=...)``,
``start_backend_process(settings, env=...)`` / ``BackendProcess``, and ``testing.running_app``.
Imports are lazy so that ``reference_backend.settings`` stays cheap to import.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BackendProcess", "BackendSettings", "create_app", "serve", "start_backend_process"]

_EXPORTS = {
    "BackendProcess": "reference_backend.process",
    "BackendSettings": "reference_backend.settings",
    "create_app": "reference_backend.app",
    "serve": "reference_backend.server",
    "start_backend_process": "reference_backend.process",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reference_backend' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
