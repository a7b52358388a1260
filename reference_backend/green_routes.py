"""green's REST routes under its base, by area: auth, chats, agents, collections and documents,
uploads, admin and stats (CONTRACT.md; the real controllers where it is silent)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StringConstraints

from reference_backend.auth import ADMIN_ROLES
from reference_backend.documents import GREEN_FORMATS
from reference_backend.green_http import (
    AdminPrincipal,
    Authenticated,
    NonEmpty,
    ObjectId,
    PermissionName,
    Principal,
    SuperAdminPrincipal,
    created,
    fail,
    reply,
)
from reference_backend.green_sio import GreenGateway
from reference_backend.services import (
    collection_name_problem,
    ingest,
    read_upload,
    search,
    size_text,
    visible_collections,
)
from reference_backend.settings import BUILTIN_AGENT_ID
from reference_backend.state import BackendState
from reference_backend.store import Agent, Chat, Collection, NameTakenError, is_object_id


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


def auth_routes(router: APIRouter, state: BackendState) -> None:
    deviations = state.settings.faults.deviations

    @router.post("/auth/login", status_code=201)
    async def login(body: LoginBody) -> JSONResponse:
        user = state.users.get(body.username)
        if user is None or not state.users.check_password(user, body.password):
            # The real controller returns this with 201: the status code does not tell failure.
            return created({"error": "Invalid credentials"})
        return created(
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
            return created({"error": "Invalid refresh"})
        access = state.tokens.mint_green(user, claims=not deviations.refresh_without_claims)
        return created({"accessToken": access, "refreshToken": state.refresh_tokens.issue(user)})

    @router.get("/auth/me")
    async def me(principal: Authenticated) -> JSONResponse:
        # req.user straight from the claims: a claim the token lacks is absent here too.
        body = {"userId": principal.user_id, "username": principal.username, "roles": principal.roles}
        return reply({k: v for k, v in body.items() if v is not None})

    @router.post("/auth/logout", status_code=201)
    async def logout(principal: Authenticated) -> JSONResponse:
        return created({"success": True})


def chat_routes(router: APIRouter, state: BackendState, gateway: GreenGateway) -> None:
    store = state.store

    def find(chat_id: str) -> Chat:
        # As in the real controller, there is no ownership check on a chat id.
        chat = store.get_chat(chat_id) if is_object_id(chat_id) else None
        if chat is None:
            raise fail(404, "Chat not found")
        return chat

    @router.get("/chats")
    async def list_chats(principal: Authenticated) -> JSONResponse:
        return reply([chat.to_json() for chat in store.chats_of(principal.user_id)])

    @router.post("/chats", status_code=201)
    async def create_chat(body: ChatCreateBody, principal: Authenticated) -> JSONResponse:
        return created(store.create_chat(principal.user_id, body.name, body.agentId).to_json())

    @router.post("/chats/{chat_id}/messages", status_code=201)
    async def add_message(chat_id: str, body: ContentBody, principal: Authenticated) -> JSONResponse:
        chat = find(chat_id)
        store.add_message(chat, "user", body.content)
        return created(chat.to_json())

    @router.post("/chats/{chat_id}/ask", status_code=201)
    async def ask(chat_id: str, body: AskBody, principal: Authenticated) -> JSONResponse:
        chat = find(chat_id)
        store.add_message(chat, "user", body.content)
        gateway.start_chat_answer(chat)
        return created({"status": "accepted", "channel": f"chat:{chat.id}"})

    @router.delete("/chats/{chat_id}/clear-memory")
    async def clear_memory(chat_id: str, principal: Authenticated) -> JSONResponse:
        store.clear_memory(find(chat_id))
        return reply({"status": "cleared"})

    @router.get("/chats/{chat_id}/memory/stats")
    async def memory_stats(chat_id: str, principal: Authenticated) -> JSONResponse:
        return reply(store.memory_stats(find(chat_id)))


def agent_routes(router: APIRouter, state: BackendState, gateway: GreenGateway) -> None:
    store = state.store

    def find(agent_id: str) -> Agent:
        agent = store.get_agent(agent_id) if is_object_id(agent_id) else None
        if agent is None:
            raise fail(404, "Agent not found")
        return agent

    def fields_of(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        if creating and (not isinstance(body.get("name"), str) or not body["name"]):
            raise fail(400, "name is required")
        return body

    @router.get("/agents")
    async def list_agents(principal: Authenticated) -> JSONResponse:
        return reply([agent.to_json() for agent in store.agents()])

    @router.post("/agents", status_code=201)
    async def create_agent(body: Annotated[dict[str, Any], Body()], principal: Authenticated) -> JSONResponse:
        try:
            agent = store.create_agent(principal.name, fields_of(body, creating=True))
        except (TypeError, ValueError) as exc:
            raise fail(400, f"Invalid agent: {exc}") from exc
        return created(agent.to_json())

    @router.post("/agents/execute-streaming", status_code=201)
    async def execute_streaming(body: ExecuteBody, principal: Authenticated) -> JSONResponse:
        agent = store.get_agent(body.agentId)
        result = await gateway.start_agent_stream(agent, body.agentId, body.sessionId, body.userId, body.message)
        return created(result)

    @router.get("/agents/streaming-status/{session_id}")
    async def streaming_status(session_id: str, principal: Authenticated) -> JSONResponse:
        return reply(gateway.streaming_status(session_id))

    @router.post("/agents/cancel-streaming/{session_id}", status_code=201)
    async def cancel_streaming(session_id: str, principal: Authenticated) -> JSONResponse:
        cancelled = await gateway.cancel(session_id)
        message = "Streaming cancelled" if cancelled else "No active streaming session"
        return created({"message": message, "sessionId": session_id})

    @router.get("/agents/{agent_id}")
    async def get_agent(agent_id: str, principal: Authenticated) -> JSONResponse:
        return reply(find(agent_id).to_json())

    @router.put("/agents/{agent_id}")
    async def update_agent(
        agent_id: str, body: Annotated[dict[str, Any], Body()], principal: Authenticated
    ) -> JSONResponse:
        agent = find(agent_id)
        store.update_agent(agent, fields_of(body, creating=False))
        return reply(agent.to_json())

    @router.delete("/agents/{agent_id}")
    async def delete_agent(agent_id: str, principal: Authenticated) -> JSONResponse:
        agent = find(agent_id)
        if agent.id == BUILTIN_AGENT_ID:
            raise fail(403, "The built-in agent cannot be deleted")
        store.delete_agent(agent.id)
        return reply({"message": "Agent deleted successfully"})


def collection_routes(router: APIRouter, state: BackendState) -> None:
    store = state.store
    settings = state.settings

    def find(collection_id: str, principal: Principal, *, modify: bool = False, crud: bool = False) -> Collection:
        """As the real controller looks a collection up: the document, search and stats routes
        answer 400 for a missing collection and 403 for one the user may not use; update and delete
        throw plain errors, which Nest answers with 500. green's req.user carries no department,
        so DEPARTMENT collections are their creator's only."""
        collection = store.get_collection(collection_id) if is_object_id(collection_id) else None
        if collection is None:
            raise fail(500 if crud else 400, "Collection not found")
        owner = collection.created_by == principal.name
        if not owner and (modify or collection.permission != "PUBLIC"):
            raise fail(500 if crud else 403, "Not authorized" if crud else "Not authorized to access this collection")
        return collection

    def check_name(name: str) -> None:
        problem = collection_name_problem(name)
        if problem is not None:
            raise fail(400, problem)

    @router.get("/collections")
    async def list_collections(principal: Authenticated) -> JSONResponse:
        return reply([c.to_json() for c in visible_collections(store, principal.name, None)])

    @router.get("/collections/public")
    async def public_collections() -> JSONResponse:
        return reply([c.to_json() for c in store.collections() if c.permission == "PUBLIC"])

    @router.post("/collections", status_code=201)
    async def create_collection(body: CollectionCreateBody, principal: Authenticated) -> JSONResponse:
        check_name(body.name)
        try:
            collection = store.create_collection(body.name, body.permission, principal.name, body.modelId)
        except NameTakenError as exc:
            raise fail(409, str(exc)) from exc
        return created(collection.to_json())

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
            raise fail(409, str(exc)) from exc
        return reply(collection.to_json())

    @router.delete("/collections/{collection_id}")
    async def delete_collection(collection_id: str, principal: Authenticated) -> JSONResponse:
        store.delete_collection(find(collection_id, principal, modify=True, crud=True).id)
        return reply({"message": "Collection deleted"})

    @router.post("/collections/{collection_id}/documents", status_code=201)
    async def upload_document(collection_id: str, request: Request, principal: Authenticated) -> JSONResponse:
        """Multipart field ``file``; txt, pdf, md, csv or json."""
        collection = find(collection_id, principal, modify=True)
        limit = settings.document_max_bytes
        _, file = await read_upload(request, keep_file_bytes=limit)
        if file.content is None:
            raise fail(413, f"File too large (max {size_text(limit)})")
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
        return created({"message": "Document uploaded successfully", "data": data})

    @router.get("/collections/{collection_id}/documents")
    async def list_documents(
        collection_id: str,
        principal: Authenticated,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> JSONResponse:
        chunks = store.chunks_of(find(collection_id, principal).id)[:limit]
        return reply({"message": "Documents retrieved successfully", "data": [c.to_json() for c in chunks]})

    @router.delete("/collections/{collection_id}/documents/{document_id}")
    async def delete_document(collection_id: str, document_id: str, principal: Authenticated) -> JSONResponse:
        collection = find(collection_id, principal, modify=True)
        store.delete_document(collection.id, document_id)  # the real controller answers the same either way
        return reply({"message": "Document deleted successfully"})

    @router.get("/collections/{collection_id}/stats")
    async def collection_stats(collection_id: str, principal: Authenticated) -> JSONResponse:
        collection = find(collection_id, principal).to_json()
        keys = ("id", "name", "permission", "createdBy", "department", "createdAt", "updatedAt")
        return reply(
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
        return reply(
            {
                "message": "Search completed successfully",
                "data": {"chunks": found, "totalResults": len(found), "searchTime": round(search_ms, 3)},
            }
        )


def upload_admin_routes(router: APIRouter, state: BackendState) -> None:
    limit = state.settings.upload_limit_bytes

    @router.post("/upload", status_code=201)
    async def upload(request: Request, principal: Authenticated) -> JSONResponse:
        """Multipart field ``file``. Only its size and type are kept, never its bytes."""
        _, file = await read_upload(request)
        if file.size > limit:
            raise fail(413, f"File too large (max {size_text(limit)})")
        record = state.store.add_upload(file.filename, file.content_type, file.size, principal.user_id)
        return created({"url": f"{request.base_url}uploads/{quote(record.key)}", "mediaType": file.content_type})

    @router.get("/admins/all")
    async def all_admins(principal: SuperAdminPrincipal) -> JSONResponse:
        return reply([u.to_green_json() for u in state.users if u.role in ADMIN_ROLES])

    @router.get("/stats")
    async def stats(
        principal: AdminPrincipal, start_date: str | None = None, end_date: str | None = None
    ) -> JSONResponse:
        return reply(state.store.daily_stats(start_date, end_date))

    @router.get("/stats/total")
    async def stats_total(principal: AdminPrincipal) -> JSONResponse:
        return reply(state.store.total_stats(len(state.users)))

    @router.get("/stats/daily")
    async def stats_daily(principal: AdminPrincipal) -> JSONResponse:
        return reply(state.store.today_stats())
