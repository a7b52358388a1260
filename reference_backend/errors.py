"""Error bodies in each color's format, and a raw ASGI JSON response for the middlewares."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.types import Send

from reference_backend.settings import Color
from reference_backend.store import iso


def nest_error(status: int, message: Any, path: str, **extra: Any) -> dict[str, Any]:
    """green's error body. Of the real filters' fields, clients may rely only on these four."""
    return {"statusCode": status, "message": message, "timestamp": iso(time.time()), "path": path, **extra}


def error_body(color: Color, status: int, message: str, path: str) -> dict[str, Any]:
    return {"detail": message} if color == "blue" else nest_error(status, message, path)


async def send_json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
