"""blue: the FastAPI backend (REST under ``/api`` plus the native chat WebSocket).

Two guard styles, as in the real backend: ``AnyUser`` loads the user named by the token (chat,
collections, training, upload, ``/auth/me``) and answers 401 "User not found" for an unknown one;
the ``*Claims`` guards trust the token's ``role`` claim alone (agents, admin, stats). Guards find
the app's state through ``request.app.state.backend``; route handlers close over it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from reference_backend.blue_http import (
    WELCOME,
    reply,
)
from reference_backend.blue_routes import (
    admin_routes,
    agent_routes,
    auth_routes,
    chat_routes,
    collection_routes,
    upload_routes,
)
from reference_backend.blue_ws import BlueChatSocket
from reference_backend.deviations import DeviationMiddleware, remove_routes
from reference_backend.faults import FaultMiddleware
from reference_backend.metrics import METRICS_PATH, MetricsMiddleware
from reference_backend.settings import BackendSettings
from reference_backend.state import build_state


def create_blue_app(settings: BackendSettings) -> FastAPI:
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with state.running():
            yield

    app = FastAPI(title="loadbench reference backend (blue)", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.backend = state

    @app.get("/")
    async def root() -> JSONResponse:
        return reply({"message": WELCOME})

    @app.get(METRICS_PATH)
    async def metrics() -> Response:
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    auth_routes(app, state)
    chat_routes(app, state)
    agent_routes(app, state)
    collection_routes(app, state)
    upload_routes(app, state)
    admin_routes(app, state)

    socket = BlueChatSocket(state)
    app.router.add_websocket_route("/api/chat/ws", socket.handle)
    app.router.add_websocket_route("/ws", socket.handle)

    deviations = settings.faults.deviations
    remove_routes([app.router.routes], deviations.missing_routes, base="")
    # The middleware added last runs first: metrics wrap the faults, so they count injected responses.
    if deviations.status or deviations.dropped_fields or deviations.foreign_error_format:
        app.add_middleware(DeviationMiddleware, color="blue", deviations=deviations, base="")
    app.add_middleware(
        FaultMiddleware,
        color="blue",
        faults=settings.faults,
        rng=state.fault_rng,
        leak=state.leak,
        metrics=state.metrics,
        spawn=state.spawn,
    )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics, routes=app.router.routes)
    return app
