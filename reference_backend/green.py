"""green: NestJS-style REST under ``settings.rest_base`` plus the Socket.IO gateway, as one ASGI app.

NestJS habits reproduced: every POST answers 201 (a bad login and a failed document too), errors
are ``{statusCode, message, timestamp, path}``, validation failures are 400, HTTP guards trust the
token's claims without a user lookup, and ``/health``, ``/health/detailed`` and ``/metrics`` sit
outside the REST base.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp

from reference_backend.deviations import DeviationMiddleware, remove_routes
from reference_backend.faults import FaultMiddleware
from reference_backend.green_http import (
    StripTrailingSlash,
    error_handlers,
    reply,
)
from reference_backend.green_routes import (
    agent_routes,
    auth_routes,
    chat_routes,
    collection_routes,
    upload_admin_routes,
)
from reference_backend.green_sio import GreenGateway
from reference_backend.metrics import METRICS_PATH, MetricsMiddleware
from reference_backend.settings import BackendSettings
from reference_backend.state import build_state
from reference_backend.store import iso


def create_green_app(settings: BackendSettings) -> ASGIApp:
    state = build_state(settings)
    # async_handlers=False: each event's handler runs in its socket's reader, not in a task of its
    # own. Every handler here only queues emits (nothing waits on the network or a timer), so the
    # order and timing a client sees are the same, and at 10,000 pinging connections a task per
    # event was a large share of the stand-in's CPU (issue 15: the swarm profile's server_cpu SLO).
    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False, async_handlers=False
    )
    gateway = GreenGateway(state, sio, settings.event_style)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with state.running():
            yield
        await sio.shutdown()

    rest = FastAPI(
        title="loadbench reference backend (green)",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    rest.state.backend = state
    rest.state.gateway = gateway
    error_handlers(rest)

    @rest.get("/health")
    async def health() -> JSONResponse:
        return reply({"status": "ok", "timestamp": iso(time.time())})

    @rest.get("/health/detailed")
    async def health_detailed() -> JSONResponse:
        checks = [
            {"name": name, "status": "pass", "duration": 0, "message": message}
            for name, message in (
                ("database", "in-memory store"),
                ("memory", f"{len(state.leak)} leaked blocks"),
                ("system", "ok"),
            )
        ]
        return reply(
            {
                "status": "healthy",
                "timestamp": iso(time.time()),
                "version": "1.0.0",
                "uptime": round((time.time() - state.started_at) * 1000),
                "checks": checks,
            }
        )

    @rest.get(METRICS_PATH)
    async def metrics() -> Response:
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    router = APIRouter(prefix=settings.rest_base)
    auth_routes(router, state)
    chat_routes(router, state, gateway)
    agent_routes(router, state, gateway)
    collection_routes(router, state)
    upload_admin_routes(router, state)
    deviations = settings.faults.deviations
    remove_routes([rest.router.routes, router.routes], deviations.missing_routes, base=settings.rest_base)
    rest.include_router(router)

    if deviations.status or deviations.dropped_fields or deviations.foreign_error_format:
        rest.add_middleware(DeviationMiddleware, color="green", deviations=deviations, base=settings.rest_base)
    rest.add_middleware(
        FaultMiddleware,
        color="green",
        faults=settings.faults,
        rng=state.fault_rng,
        leak=state.leak,
        metrics=state.metrics,
        spawn=state.spawn,
    )
    rest.add_middleware(MetricsMiddleware, metrics=state.metrics, routes=rest.router.routes)
    rest.add_middleware(StripTrailingSlash)
    # Engine.IO traffic goes straight to Socket.IO, past the REST middlewares: faults are for REST.
    return socketio.ASGIApp(sio, other_asgi_app=rest, socketio_path="socket.io")
