"""green's HTTP habits, as NestJS has them: ``req.user`` straight from the token's claims (no user
lookup), role guards, 201 on every POST, ``{statusCode, message, timestamp, path}`` errors, 400 on
validation, and Express's non-strict routing (a trailing slash is the same route)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_backend.auth import ADMIN_ROLES, TokenError, roles_allowed
from reference_backend.errors import nest_error
from reference_backend.state import BackendState

ObjectId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]


NonEmpty = Annotated[str, StringConstraints(min_length=1)]


PermissionName = Literal["PUBLIC", "PRIVATE", "DEPARTMENT"]


@dataclass(frozen=True, slots=True)
class Principal:
    """``req.user`` as green's JWT strategy builds it: straight from the claims."""

    user_id: str
    username: str | None  # None: the token has no such claim (green's refreshed tokens)
    roles: list[str] | None

    @property
    def name(self) -> str:
        """The username as the services compare it (``undefined`` matches no owner)."""
        return self.username or ""


def reply(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def created(body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=201)


def fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


class StripTrailingSlash:
    """Express routes non-strictly: ``/api/chats/`` is ``/api/chats``. Starlette would redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


def backend_of(request: Request) -> BackendState:
    state: BackendState = request.app.state.backend
    return state


async def principal_of(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise fail(401, "Unauthorized")
    try:
        claims = backend_of(request).tokens.verify(token.strip())
    except TokenError as exc:
        raise fail(401, "Unauthorized") from exc
    roles, username = claims.get("roles"), claims.get("username")
    return Principal(
        user_id=claims["sub"],
        username=username if isinstance(username, str) else None,
        roles=roles if isinstance(roles, list) else None,
    )


def with_roles(*allowed: str) -> Callable[[Request], Awaitable[Principal]]:
    async def check_roles(request: Request) -> Principal:
        principal = await principal_of(request)
        if not roles_allowed(principal.roles, allowed):
            raise fail(403, "Forbidden resource")
        return principal

    return check_roles


Authenticated = Annotated[Principal, Depends(principal_of)]


AdminPrincipal = Annotated[Principal, Depends(with_roles(*ADMIN_ROLES))]


SuperAdminPrincipal = Annotated[Principal, Depends(with_roles("SuperAdmin"))]


def error_handlers(rest: FastAPI) -> None:
    @rest.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status, message = exc.status_code, str(exc.detail)
        if status == 405 or (status == 404 and message == "Not Found"):
            status, message = 404, f"Cannot {request.method} {request.url.path}"
        body = nest_error(status, message, request.url.path, error=HTTPStatus(status).phrase)
        return JSONResponse(body, status_code=status, headers=exc.headers)

    @rest.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in error.get("loc", ())[1:]),
                "message": error.get("msg", ""),
                "code": error.get("type", ""),
            }
            for error in exc.errors()
        ]
        body = nest_error(400, "Validation failed", request.url.path, errors=errors)
        return JSONResponse(body, status_code=400)
