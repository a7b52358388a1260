"""green: NestJS-style REST under ``settings.rest_base`` plus the Socket.IO gateway, as one ASGI app.

NestJS habits reproduced: every POST answers 201 (a bad login and a failed document too), errors
are ``{statusCode, message, timestamp, path}``, validation failures are 400, HTTP guards trust the
token's claims without a user lookup, and ``/health``, ``/health/detailed`` and ``/metrics`` sit
outside the REST base.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Literal
from urllib.parse import quote

import socketio
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from reference_backend.auth import ADMIN_ROLES, TokenError, roles_allowed
from reference_backend.deviations import DeviationMiddleware, remove_routes
from reference_backend.documents import GREEN_FORMATS
from reference_backend.errors import nest_error
from reference_backend.faults import FaultMiddleware
from reference_backend.green_sio import GreenGateway
from reference_backend.metrics import METRICS_PATH, MetricsMiddleware
from reference_backend.services import (
    collection_name_problem,
    ingest,
    read_upload,
    search,
    size_text,
    visible_collections,
)
from reference_backend.settings import BUILTIN_AGENT_ID, BackendSettings
from reference_backend.state import BackendState, build_state
from reference_backend.store import Agent, Chat, Collection, NameTakenError, is_object_id, iso

ObjectId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{24}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
PermissionName = Literal["PUBLIC", "PRIVATE", "DEPARTMENT"]


class LoginBody(BaseModel):
    username: NonEmpty
    password: NonEmpty


class RefreshBody(BaseModel):
    refreshToken: NonEmpty


class ChatCreateBody(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    agentId: str | None = None


class ContentBody(BaseModel):
    content: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class AskBody(ContentBody):
    modelId: str | None = None
    systemPrompt: str | None = None
    temperature: float | None = None
    maxTokens: int | None = None


class ExecuteBody(BaseModel):
    agentId: ObjectId
    sessionId: ObjectId
    userId: ObjectId
    message: NonEmpty
    context: list[dict[str, Any]] | None = None
    streaming: bool = True
    streamingOptions: dict[str, Any] | None = None


class CollectionCreateBody(BaseModel):
    # The real DTO runs under a whitelisting ValidationPipe: unknown fields are a 400.
    model_config = ConfigDict(extra="forbid")
    name: NonEmpty
    permission: PermissionName = "PRIVATE"
    modelId: str | None = None


class CollectionUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    permission: PermissionName | None = None


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


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def _created(body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=201)


def _fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


class _StripTrailingSlash:
    """Express routes non-strictly: ``/api/chats/`` is ``/api/chats``. Starlette would redirect."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


def _backend(request: Request) -> BackendState:
    state: BackendState = request.app.state.backend
    return state


async def _principal(request: Request) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _fail(401, "Unauthorized")
    try:
        claims = _backend(request).tokens.verify(token.strip())
    except TokenError as exc:
        raise _fail(401, "Unauthorized") from exc
    roles, username = claims.get("roles"), claims.get("username")
    return Principal(
        user_id=claims["sub"],
        username=username if isinstance(username, str) else None,
        roles=roles if isinstance(roles, list) else None,
    )


def _with_roles(*allowed: str) -> Callable[[Request], Awaitable[Principal]]:
    async def check_roles(request: Request) -> Principal:
        principal = await _principal(request)
        if not roles_allowed(principal.roles, allowed):
            raise _fail(403, "Forbidden resource")
        return principal

    return check_roles


Authenticated = Annotated[Principal, Depends(_principal)]
AdminPrincipal = Annotated[Principal, Depends(_with_roles(*ADMIN_ROLES))]
SuperAdminPrincipal = Annotated[Principal, Depends(_with_roles("SuperAdmin"))]


def create_green_app(settings: BackendSettings) -> ASGIApp:
    state = build_state(settings)
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", logger=False, engineio_logger=False)
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
    _error_handlers(rest)

    @rest.get("/health")
    async def health() -> JSONResponse:
        return _json({"status": "ok", "timestamp": iso(time.time())})

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
        return _json(
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
    _auth_routes(router, state)
    _chat_routes(router, state, gateway)
    _agent_routes(router, state, gateway)
    _collection_routes(router, state)
    _upload_admin_routes(router, state)
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
    rest.add_middleware(_StripTrailingSlash)
    # Engine.IO traffic goes straight to Socket.IO, past the REST middlewares: faults are for REST.
    return socketio.ASGIApp(sio, other_asgi_app=rest, socketio_path="socket.io")


def _error_handlers(rest: FastAPI) -> None:
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


def _auth_routes(router: APIRouter, state: BackendState) -> None:
    deviations = state.settings.faults.deviations

    @router.post("/auth/login", status_code=201)
    async def login(body: LoginBody) -> JSONResponse:
        user = state.users.get(body.username)
        if user is None or not state.users.check_password(user, body.password):
            # The real controller returns this with 201: the status code does not tell failure.
            return _created({"error": "Invalid credentials"})
        return _created(
            {
                "accessToken": state.tokens.mint_green(user),
                "refreshToken": state.refresh_tokens.issue(user),
                "user": user.to_green_json(),
            }
        )

    @router.post("/auth/refresh", status_code=201)
    async def refresh(body: RefreshBody) -> JSONResponse:
        user = state.refresh_tokens.consume(body.refreshToken)
        if user is None:
            return _created({"error": "Invalid refresh"})
        access = state.tokens.mint_green(user, claims=not deviations.refresh_without_claims)
        return _created({"accessToken": access, "refreshToken": state.refresh_tokens.issue(user)})

    @router.get("/auth/me")
    async def me(principal: Authenticated) -> JSONResponse:
        # req.user straight from the claims: a claim the token lacks is absent here too.
        body = {"userId": principal.user_id, "username": principal.username, "roles": principal.roles}
        return _json({k: v for k, v in body.items() if v is not None})

    @router.post("/auth/logout", status_code=201)
    async def logout(principal: Authenticated) -> JSONResponse:
        return _created({"success": True})


def _chat_routes(router: APIRouter, state: BackendState, gateway: GreenGateway) -> None:
    store = state.store

    def find(chat_id: str) -> Chat:
        # As in the real controller, there is no ownership check on a chat id.
        chat = store.get_chat(chat_id) if is_object_id(chat_id) else None
        if chat is None:
            raise _fail(404, "Chat not found")
        return chat

    @router.get("/chats")
    async def list_chats(principal: Authenticated) -> JSONResponse:
        return _json([chat.to_json() for chat in store.chats_of(principal.user_id)])

    @router.post("/chats", status_code=201)
    async def create_chat(body: ChatCreateBody, principal: Authenticated) -> JSONResponse:
        return _created(store.create_chat(principal.user_id, body.name, body.agentId).to_json())

    @router.post("/chats/{chat_id}/messages", status_code=201)
    async def add_message(chat_id: str, body: ContentBody, principal: Authenticated) -> JSONResponse:
        chat = find(chat_id)
        store.add_message(chat, "user", body.content)
        return _created(chat.to_json())

    @router.post("/chats/{chat_id}/ask", status_code=201)
    async def ask(chat_id: str, body: AskBody, principal: Authenticated) -> JSONResponse:
        chat = find(chat_id)
        store.add_message(chat, "user", body.content)
        gateway.start_chat_answer(chat)
        return _created({"status": "accepted", "channel": f"chat:{chat.id}"})

    @router.delete("/chats/{chat_id}/clear-memory")
    async def clear_memory(chat_id: str, principal: Authenticated) -> JSONResponse:
        store.clear_memory(find(chat_id))
        return _json({"status": "cleared"})

    @router.get("/chats/{chat_id}/memory/stats")
    async def memory_stats(chat_id: str, principal: Authenticated) -> JSONResponse:
        return _json(store.memory_stats(find(chat_id)))


def _agent_routes(router: APIRouter, state: BackendState, gateway: GreenGateway) -> None:
    store = state.store

    def find(agent_id: str) -> Agent:
        agent = store.get_agent(agent_id) if is_object_id(agent_id) else None
        if agent is None:
            raise _fail(404, "Agent not found")
        return agent

    def fields_of(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        if creating and (not isinstance(body.get("name"), str) or not body["name"]):
            raise _fail(400, "name is required")
        return body

    @router.get("/agents")
    async def list_agents(principal: Authenticated) -> JSONResponse:
        return _json([agent.to_json() for agent in store.agents()])

    @router.post("/agents", status_code=201)
    async def create_agent(body: Annotated[dict[str, Any], Body()], principal: Authenticated) -> JSONResponse:
        try:
            agent = store.create_agent(principal.name, fields_of(body, creating=True))
        except (TypeError, ValueError) as exc:
            raise _fail(400, f"Invalid agent: {exc}") from exc
        return _created(agent.to_json())

    @router.post("/agents/execute-streaming", status_code=201)
    async def execute_streaming(body: ExecuteBody, principal: Authenticated) -> JSONResponse:
        agent = store.get_agent(body.agentId)
        result = await gateway.start_agent_stream(agent, body.agentId, body.sessionId, body.userId, body.message)
        return _created(result)

    @router.get("/agents/streaming-status/{session_id}")
    async def streaming_status(session_id: str, principal: Authenticated) -> JSONResponse:
        return _json(gateway.streaming_status(session_id))

    @router.post("/agents/cancel-streaming/{session_id}", status_code=201)
    async def cancel_streaming(session_id: str, principal: Authenticated) -> JSONResponse:
        cancelled = await gateway.cancel(session_id)
        message = "Streaming cancelled" if cancelled else "No active streaming session"
        return _created({"message": message, "sessionId": session_id})

    @router.get("/agents/{agent_id}")
    async def get_agent(agent_id: str, principal: Authenticated) -> JSONResponse:
        return _json(find(agent_id).to_json())

    @router.put("/agents/{agent_id}")
    async def update_agent(
        agent_id: str, body: Annotated[dict[str, Any], Body()], principal: Authenticated
    ) -> JSONResponse:
        agent = find(agent_id)
        store.update_agent(agent, fields_of(body, creating=False))
        return _json(agent.to_json())

    @router.delete("/agents/{agent_id}")
    async def delete_agent(agent_id: str, principal: Authenticated) -> JSONResponse:
        agent = find(agent_id)
        if agent.id == BUILTIN_AGENT_ID:
            raise _fail(403, "The built-in agent cannot be deleted")
        store.delete_agent(agent.id)
        return _json({"message": "Agent deleted successfully"})


def _collection_routes(router: APIRouter, state: BackendState) -> None:
    store = state.store
    settings = state.settings

    def find(collection_id: str, principal: Principal, *, modify: bool = False, crud: bool = False) -> Collection:
        """As the real controller looks a collection up: the document, search and stats routes
        answer 400 for a missing collection and 403 for one the user may not use; update and delete
        throw plain errors, which Nest answers with 500. green's req.user carries no department,
        so DEPARTMENT collections are their creator's only."""
        collection = store.get_collection(collection_id) if is_object_id(collection_id) else None
        if collection is None:
            raise _fail(500 if crud else 400, "Collection not found")
        owner = collection.created_by == principal.name
        if not owner and (modify or collection.permission != "PUBLIC"):
            raise _fail(500 if crud else 403, "Not authorized" if crud else "Not authorized to access this collection")
        return collection

    def check_name(name: str) -> None:
        problem = collection_name_problem(name)
        if problem is not None:
            raise _fail(400, problem)

    @router.get("/collections")
    async def list_collections(principal: Authenticated) -> JSONResponse:
        return _json([c.to_json() for c in visible_collections(store, principal.name, None)])

    @router.get("/collections/public")
    async def public_collections() -> JSONResponse:
        return _json([c.to_json() for c in store.collections() if c.permission == "PUBLIC"])

    @router.post("/collections", status_code=201)
    async def create_collection(body: CollectionCreateBody, principal: Authenticated) -> JSONResponse:
        check_name(body.name)
        try:
            collection = store.create_collection(body.name, body.permission, principal.name, body.modelId)
        except NameTakenError as exc:
            raise _fail(409, str(exc)) from exc
        return _created(collection.to_json())

    @router.put("/collections/{collection_id}")
    async def update_collection(
        collection_id: str, body: CollectionUpdateBody, principal: Authenticated
    ) -> JSONResponse:
        collection = find(collection_id, principal, modify=True, crud=True)
        if body.name is not None:
            check_name(body.name)
        try:
            store.update_collection(collection, body.name, body.permission)
        except NameTakenError as exc:
            raise _fail(409, str(exc)) from exc
        return _json(collection.to_json())

    @router.delete("/collections/{collection_id}")
    async def delete_collection(collection_id: str, principal: Authenticated) -> JSONResponse:
        store.delete_collection(find(collection_id, principal, modify=True, crud=True).id)
        return _json({"message": "Collection deleted"})

    @router.post("/collections/{collection_id}/documents", status_code=201)
    async def upload_document(collection_id: str, request: Request, principal: Authenticated) -> JSONResponse:
        """Multipart field ``file``; txt, pdf, md, csv or json."""
        collection = find(collection_id, principal, modify=True)
        limit = settings.document_max_bytes
        _, file = await read_upload(request, keep_file_bytes=limit)
        if file.content is None:
            raise _fail(413, f"File too large (max {size_text(limit)})")
        result = ingest(store, collection, file.filename, bytes(file.content), formats=GREEN_FORMATS, overlap=100)
        data: dict[str, Any] = {
            "documentId": result.document.id,
            "filename": file.filename,
            "totalChunks": result.document.total_chunks,
            "totalCharacters": result.document.total_characters,
            "status": result.document.status,
        }
        if result.problem is not None:
            data["message"] = result.problem
        # 201 even when processing failed, as the real service answers: success is in data.status.
        return _created({"message": "Document uploaded successfully", "data": data})

    @router.get("/collections/{collection_id}/documents")
    async def list_documents(
        collection_id: str,
        principal: Authenticated,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> JSONResponse:
        chunks = store.chunks_of(find(collection_id, principal).id)[:limit]
        return _json({"message": "Documents retrieved successfully", "data": [c.to_json() for c in chunks]})

    @router.delete("/collections/{collection_id}/documents/{document_id}")
    async def delete_document(collection_id: str, document_id: str, principal: Authenticated) -> JSONResponse:
        collection = find(collection_id, principal, modify=True)
        store.delete_document(collection.id, document_id)  # the real controller answers the same either way
        return _json({"message": "Document deleted successfully"})

    @router.get("/collections/{collection_id}/stats")
    async def collection_stats(collection_id: str, principal: Authenticated) -> JSONResponse:
        collection = find(collection_id, principal).to_json()
        keys = ("id", "name", "permission", "createdBy", "department", "createdAt", "updatedAt")
        return _json(
            {
                "message": "Collection statistics retrieved successfully",
                "data": {
                    "collection": {k: collection[k] for k in keys},
                    "documents": store.document_stats(collection_id),
                },
            }
        )

    @router.get("/collections/{collection_id}/search")
    async def search_collection(
        collection_id: str,
        principal: Authenticated,
        q: Annotated[str, Query(min_length=1)],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        similarity: Annotated[float, Query(ge=0, le=1)] = 0.0,
    ) -> JSONResponse:
        chunks = store.chunks_of(find(collection_id, principal).id)
        ranked, search_ms = search(chunks, q, limit)
        found = [{**chunk.to_json(), "score": score} for chunk, score in ranked if score >= similarity]
        return _json(
            {
                "message": "Search completed successfully",
                "data": {"chunks": found, "totalResults": len(found), "searchTime": round(search_ms, 3)},
            }
        )


def _upload_admin_routes(router: APIRouter, state: BackendState) -> None:
    limit = state.settings.upload_limit_bytes

    @router.post("/upload", status_code=201)
    async def upload(request: Request, principal: Authenticated) -> JSONResponse:
        """Multipart field ``file``. Only its size and type are kept, never its bytes."""
        _, file = await read_upload(request)
        if file.size > limit:
            raise _fail(413, f"File too large (max {size_text(limit)})")
        record = state.store.add_upload(file.filename, file.content_type, file.size, principal.user_id)
        return _created({"url": f"{request.base_url}uploads/{quote(record.key)}", "mediaType": file.content_type})

    @router.get("/admins/all")
    async def all_admins(principal: SuperAdminPrincipal) -> JSONResponse:
        return _json([u.to_green_json() for u in state.users if u.role in ADMIN_ROLES])

    @router.get("/stats")
    async def stats(
        principal: AdminPrincipal, start_date: str | None = None, end_date: str | None = None
    ) -> JSONResponse:
        return _json(state.store.daily_stats(start_date, end_date))

    @router.get("/stats/total")
    async def stats_total(principal: AdminPrincipal) -> JSONResponse:
        return _json(state.store.total_stats(len(state.users)))

    @router.get("/stats/daily")
    async def stats_daily(principal: AdminPrincipal) -> JSONResponse:
        return _json(state.store.today_stats())
