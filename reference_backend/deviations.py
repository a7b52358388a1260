"""Planted differences from the contract (``Deviations``): routes removed, fields dropped, statuses
changed, error bodies in the other color's format.

The reference backend must speak each color's contract exactly; these knobs exist only so that the
compatibility probe (``loadbench probe``) and the preflight can be shown to name every kind of
difference a real deployment may have. Route removal happens once, when the app is built;
everything else is a pure-ASGI middleware that rewrites the replies of the routes it names (small
JSON bodies only: a streamed or non-JSON reply passes untouched).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_backend.errors import nest_error
from reference_backend.settings import Color, Deviations

_MAX_REWRITE_BYTES = 1024 * 1024  # replies larger than this are passed through as they are


def route_keys(route: BaseRoute, base: str) -> list[str]:
    """``"METHOD /path"`` for each method of an API route, the path relative to ``base``."""
    if not isinstance(route, APIRoute):
        return []
    path = route.path[len(base) :] if base and route.path.startswith(base + "/") else route.path
    return [f"{method} {path}" for method in sorted(route.methods or ())]


def remove_routes(route_lists: Iterable[list[BaseRoute]], missing: Iterable[str], base: str) -> None:
    """Drop the named routes in place (from an app's routes, and from a router's before the app
    includes it); a name that matches no route is a configuration error."""
    wanted = set(missing)
    if not wanted:
        return
    lists = list(route_lists)
    found = {key for routes in lists for route in routes for key in route_keys(route, base)}
    unknown = sorted(wanted - found)
    if unknown:
        raise ValueError(f"deviations.missing_routes: no route {unknown[0]!r} (routes look like 'GET /auth/me')")
    for routes in lists:
        routes[:] = [route for route in routes if not set(route_keys(route, base)) & wanted]


def _drop(body: Any, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        body = body.get(key) if isinstance(body, dict) else None
    if isinstance(body, dict):
        body.pop(last, None)
    elif isinstance(body, list):
        for item in body:
            if isinstance(item, dict):
                item.pop(last, None)


def _foreign_error(color: Color, body: Any, path: str, status: int) -> Any:
    """blue's ``{"detail": ...}`` as green writes errors, or green's Nest body as blue does."""
    if not isinstance(body, dict):
        return body
    if color == "blue" and "detail" in body:
        return nest_error(status, body["detail"], path)
    if color == "green" and "statusCode" in body:
        return {"detail": body.get("message")}
    return body


class DeviationMiddleware:
    def __init__(self, app: ASGIApp, *, color: Color, deviations: Deviations, base: str) -> None:
        self.app = app
        self.color = color
        self.base = base
        self.status = dict(deviations.status)
        self.dropped: dict[str, list[str]] = {}
        for entry in deviations.dropped_fields:
            route, _, field = entry.rpartition(" ")
            if not route or not field:
                raise ValueError(f"deviations.dropped_fields: {entry!r} is not 'METHOD /path field'")
            self.dropped.setdefault(route, []).append(field)
        self.foreign_errors = deviations.foreign_error_format

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False) and sum(map(len, chunks)) <= _MAX_REWRITE_BYTES:
                return
            await self._flush(scope, start, b"".join(chunks), message.get("more_body", False), send)
            start = None
            chunks.clear()

        await self.app(scope, receive, rewriting_send)

    async def _flush(self, scope: Scope, start: Message, body: bytes, more: bool, send: Send) -> None:
        keys = route_keys(scope["route"], self.base) if "route" in scope else []
        key = next((k for k in keys if k.startswith(scope["method"] + " ")), "")
        status = int(start["status"])
        rewritten: Any = None
        if not more and body[:1] in (b"{", b"["):
            try:
                rewritten = json.loads(body)
            except ValueError:
                rewritten = None
        changed = False
        if rewritten is not None and status < 400 and key in self.dropped:
            for field in self.dropped[key]:
                _drop(rewritten, field)
            changed = True
        if rewritten is not None and status >= 400 and self.foreign_errors:
            rewritten = _foreign_error(self.color, rewritten, scope["path"], status)
            changed = True
        if status < 400 and key in self.status:
            status = self.status[key]
        headers = list(start.get("headers", []))
        if changed:
            body = json.dumps(rewritten, separators=(",", ":")).encode()
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": more})
