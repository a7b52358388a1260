"""The one entry point that turns settings into an ASGI app of the configured color."""

from __future__ import annotations

from starlette.types import ASGIApp

from reference_backend.settings import BackendSettings


def create_app(settings: BackendSettings) -> ASGIApp:
    """blue: a FastAPI app; green: a Socket.IO ASGI app wrapping a FastAPI REST app.

    ``settings`` must carry its secrets already (``settings.with_secrets_from(environ)``).
    """
    if settings.color == "blue":
        from reference_backend.blue import create_blue_app

        return create_blue_app(settings)
    from reference_backend.green import create_green_app

    return create_green_app(settings)
