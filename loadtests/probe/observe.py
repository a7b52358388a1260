"""What the compatibility probe records of one answer: its status, shape, error-body format and any
secret-looking field, read from untrusted bytes in bounded time and memory.

A shape is the answer's keys and JSON types (two levels deep, a list by its first item), never its
values: the probe writes it to ``compat.json``, and values may hold tokens or personal data. A
secret-looking field is reported by its path and kind only.
"""

from __future__ import annotations

import re
from typing import Any

MAX_KEYS = 40  # per object in a shape
MAX_DEPTH = 2
MAX_SCAN_NODES = 5_000  # JSON nodes a secret scan visits per answer

ErrorFormat = str  # "fastapi" | "nest" | "error-key" | "json" | "text" | "empty"

_BCRYPT = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")
_ARGON = re.compile(r"^\$argon2(id|i|d)\$")
_JWT = re.compile(r"^eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]{8,}$")
_SECRET_KEY = re.compile(r"(pass(word)?|passwd|pwd|hash|secret|salt|private.?key|api.?key)$", re.IGNORECASE)
_TOKEN_KEYS = frozenset({"token", "accesstoken", "refreshtoken", "access_token", "refresh_token"})


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def shape(value: Any, depth: int = 0) -> Any:
    """Keys and JSON types of ``value``: ``{"token": "string", "user": {"_id": "string", …}}``;
    an array is ``[<shape of its first item>]`` (``[]`` when empty)."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return "object"
        return {str(key)[:60]: shape(item, depth + 1) for key, item in list(value.items())[:MAX_KEYS]}
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return "array"
        return [shape(value[0], depth + 1)] if value else []
    return json_type(value)


def has_path(body: Any, dotted: str) -> bool:
    """Whether ``body`` holds a non-null value at ``a.b`` (``a|b``: either key; a list is looked
    into through its first item)."""
    node = body
    for part in dotted.split("."):
        if isinstance(node, list):
            node = node[0] if node else None
        if not isinstance(node, dict):
            return False
        found = next((node[key] for key in part.split("|") if node.get(key) is not None), None)
        if found is None:
            return False
        node = found
    return True


def error_format(status: int, body: Any, raw: bytes) -> ErrorFormat:
    """How an error answer is written: FastAPI's ``{"detail": …}``, Nest's ``{statusCode, message,
    …}``, green's soft failure ``{"error": …}`` (with a 2xx), other JSON, text or nothing."""
    if not raw:
        return "empty"
    if body is None:
        return "text"
    if isinstance(body, dict):
        if "detail" in body:
            return "fastapi"
        if "statusCode" in body and "message" in body:
            return "nest"
        if "error" in body and len(body) <= 2:
            return "error-key"
    return "json"


def route_missing(status: int, body: Any) -> bool:
    """The framework's own answer for a path it has no route for (not a handler's 404)."""
    if status == 405:
        return True
    if status != 404 or not isinstance(body, dict):
        return False
    message = body.get("detail") if "detail" in body else body.get("message")
    return message == "Not Found" or (isinstance(message, str) and message.startswith("Cannot "))


def secrets_in(body: Any, *, allowed: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """Secret-looking fields of a JSON answer: ``{"path": "user.password", "kind": "bcrypt hash"}``.
    ``allowed`` names top-level keys that are the answer's purpose (a login's ``accessToken``)."""
    found: list[dict[str, str]] = []
    stack: list[tuple[str, Any]] = [("", body)]
    visited = 0
    while stack and visited < MAX_SCAN_NODES:
        path, node = stack.pop()
        visited += 1
        if isinstance(node, dict):
            for key, value in list(node.items())[:200]:
                stack.append((f"{path}.{key}" if path else str(key), value))
            continue
        if isinstance(node, list):
            for index, value in enumerate(node[:50]):
                stack.append((f"{path}[{index}]", value))
            continue
        if not isinstance(node, str) or not node or path in allowed:
            continue
        key = path.rsplit(".", 1)[-1].split("[", 1)[0]
        kind = None
        if _BCRYPT.match(node):
            kind = "bcrypt hash"
        elif _ARGON.match(node):
            kind = "argon2 hash"
        elif _JWT.match(node):
            kind = "JWT"
        elif key.lower() in _TOKEN_KEYS:
            kind = "token"
        elif _SECRET_KEY.search(key):
            kind = f"field named {key!r}"
        if kind is not None:
            found.append({"path": path[:120], "kind": kind})
    return sorted(found, key=lambda item: item["path"])
