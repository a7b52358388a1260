"""blue's HTTP habits, as FastAPI has them: two guard styles (``AnyUser`` loads the user the token
names and answers 401 "User not found" for an unknown one; the ``*Claims`` guards trust the
token's ``role`` claim alone), ``{"detail": ...}`` errors, 422 on validation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from reference_backend.auth import ADMIN_ROLES, ROLES, TokenError, User, role_allowed
from reference_backend.state import BackendState

PermissionName = Literal["PUBLIC", "PRIVATE", "DEPARTMENT"]


WELCOME = "Welcome to MFULearnAI API"


def reply(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def fail(status: int, detail: str, **headers: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers or None)


def backend_of(request: Request) -> BackendState:
    state: BackendState = request.app.state.backend
    return state


async def claims_of(request: Request) -> dict[str, Any]:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise fail(401, "Not authenticated", **{"WWW-Authenticate": "Bearer"})
    try:
        return backend_of(request).tokens.verify(token.strip())
    except TokenError as exc:
        raise fail(401, f"Invalid token: {exc}", **{"WWW-Authenticate": "Bearer"}) from exc


def user_with(*allowed: str) -> Callable[[Request], Awaitable[User]]:
    """The database-style guard: the token must name an existing user, whose own role is checked."""

    async def load_user(request: Request) -> User:
        claims = await claims_of(request)
        user = backend_of(request).users.resolve(claims["sub"], claims.get("username"))
        if user is None:
            raise fail(401, "User not found")
        if not role_allowed(user.role, allowed):
            raise fail(403, "Access denied. User does not have the required role.")
        return user

    return load_user


def token_role(*allowed: str) -> Callable[[Request], Awaitable[dict[str, Any]]]:
    """The ``role_guard`` style: the token's own claims decide, with no user lookup."""

    async def check_role(request: Request) -> dict[str, Any]:
        claims = await claims_of(request)
        if not all(isinstance(claims.get(k), str) for k in ("username", "nameID", "role")):
            raise fail(401, "Invalid token: missing claims")
        if not role_allowed(claims["role"], allowed):
            raise fail(403, f"Access denied. Role '{claims['role']}' not allowed.")
        return claims

    return check_role


AnyUser = Annotated[User, Depends(user_with(*ROLES))]


AdminUser = Annotated[User, Depends(user_with(*ADMIN_ROLES))]


AnyRoleClaims = Annotated[dict[str, Any], Depends(token_role(*ROLES))]


AdminClaims = Annotated[dict[str, Any], Depends(token_role(*ADMIN_ROLES))]


SuperAdminClaims = Annotated[dict[str, Any], Depends(token_role("SuperAdmin"))]
