"""loadbench: load, performance and WebSocket-concurrency benchmarks for the blue → green migration."""

from __future__ import annotations

__version__ = "0.1.0"
