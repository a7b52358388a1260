"""HTTP over Locust's ``FastHttpSession`` (geventhttpclient: about 4x the throughput of
``HttpSession`` per core, research/feasibility.md).

The session would fire its own request events; it gets a sink instead, because samples are timed
and judged in ``PlatformClient`` and fired once, through ``loadtests.timing``.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from locust.contrib.fasthttp import FastHttpSession

from loadtests.dialects.base import HttpReply, HttpRequest
from loadtests.transport.errors import TransportError

__all__ = ["HttpTransport"]


class _DiscardEvents:
    def fire(self, **kwargs: Any) -> None:
        return None


_DISCARD = _DiscardEvents()


def _timed_out(error: BaseException) -> bool:
    import gevent

    return isinstance(error, TimeoutError | socket.timeout | gevent.Timeout) or "timed out" in str(error).lower()


class HttpTransport:
    def __init__(self, base_url: str, *, timeout_s: float, connect_timeout_s: float) -> None:
        self._session = FastHttpSession(
            base_url,
            request_event=_DISCARD,
            user=None,
            connection_timeout=connect_timeout_s,
            network_timeout=timeout_s,
            max_retries=0,
        )

    def send(self, request: HttpRequest, headers: Mapping[str, str]) -> HttpReply:
        """Send one request and read the whole body; raise ``TransportError`` when no response came."""
        extra: dict[str, object] = {}
        if request.upload is not None:
            upload = request.upload
            extra["files"] = {"file": (upload.filename, upload.content, upload.content_type)}
            extra["data"] = dict(request.form or {})
        response = self._session.request(
            request.method,
            request.path,
            json=request.json,
            params=dict(request.params) if request.params else None,
            headers=dict(headers),
            allow_redirects=False,
            **extra,
        )
        if getattr(response, "status_code", 0) in (0, None):
            error = getattr(response, "error", None) or RuntimeError("no response")
            raise TransportError(f"{type(error).__name__}: {error}", timed_out=_timed_out(error))
        try:
            body = response.content or b""
        except Exception as error:  # body cut mid-way: the peer closed or stalled
            raise TransportError(f"body not read: {type(error).__name__}", timed_out=_timed_out(error)) from error
        headers_out = {k.lower(): v for k, v in (response.headers or {}).items()}
        return HttpReply(int(response.status_code), body, headers_out)
