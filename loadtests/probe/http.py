"""HTTP for the probe and the preflight, with httpx.

They run in the orchestrator's process, which must stay a plain threaded process: Locust's HTTP
transport (``loadtests.transport.http``) imports Locust, and importing Locust patches the standard
library with gevent. The steps are the dialects' own ``HttpRequest`` values, so the probe sends
exactly what the workload sends. Redirects are never followed (a target may not send the suite
elsewhere), and a body is read up to ``MAX_BODY_BYTES`` (a target's answer is untrusted).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from loadtests.dialects.base import HttpReply, HttpRequest
from loadtests.transport.errors import TransportError

MAX_BODY_BYTES = 4 * 1024 * 1024


class ProbeHttp:
    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s, follow_redirects=False)

    def send(self, request: HttpRequest, headers: Mapping[str, str]) -> tuple[HttpReply, float]:
        """The reply and its latency in ms (request sent → whole body read)."""
        files = None
        data = None
        if request.upload is not None:
            upload = request.upload
            files = {"file": (upload.filename, upload.content, upload.content_type)}
            data = dict(request.form or {})
        start = time.perf_counter()
        try:
            with self._client.stream(
                request.method,
                request.path,
                json=request.json,
                params=dict(request.params) if request.params else None,
                headers=dict(headers),
                files=files,
                data=data,
            ) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk[: MAX_BODY_BYTES - len(body)]
                    if len(body) >= MAX_BODY_BYTES:
                        break
        except httpx.TimeoutException as error:
            raise TransportError(f"{type(error).__name__}", timed_out=True) from None
        except httpx.HTTPError as error:
            raise TransportError(f"{type(error).__name__}: {str(error)[:120]}") from None
        latency_ms = (time.perf_counter() - start) * 1000
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        return HttpReply(response.status_code, bytes(body), headers_out), latency_ms

    def close(self) -> None:
        self._client.close()
