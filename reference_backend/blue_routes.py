"""blue's REST routes under ``/api``, by area: auth, chat, agents, collections and training,
uploads, admin and stats (CONTRACT.md; the last FastAPI version where it is silent)."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from reference_backend.auth import ADMIN_ROLES, User, role_allowed
from reference_backend.blue_http import (
    AdminClaims,
    AdminUser,
    AnyRoleClaims,
    AnyUser,
    PermissionName,
    SuperAdminClaims,
    fail,
    reply,
)
from reference_backend.documents import BLUE_FORMATS
from reference_backend.services import (
    can_read_collection,
    collection_name_problem,
    ingest,
    read_upload,
    size_text,
    visible_collections,
)
from reference_backend.settings import BUILTIN_AGENT_ID
from reference_backend.state import BackendState
from reference_backend.store import (
    AGENT_FIELDS,
    Agent,
    Chat,
    Collection,
    NameTakenError,
    is_object_id,
)

AGENT_TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "programming-tutor",
        "name": "Programming Tutor",
        "description": "Explains code and programming concepts step by step.",
        "category": "education",
        "icon": "code",
        "systemPrompt": "You are a patient programming tutor.",
        "recommendedTools": [],
        "recommendedCollections": [],
        "tags": ["programming", "tutor"],
    },
    {
        "id": "research-assistant",
        "name": "Research Assistant",
        "description": "Finds and summarises material from the knowledge collections.",
        "category": "research",
        "icon": "search",
        "systemPrompt": "You are a careful research assistant.",
        "recommendedTools": [],
        "recommendedCollections": [],
        "tags": ["research"],
    },
]


class AdminLoginBody(BaseModel):
    username: str
    password: str


class UpdateNameBody(BaseModel):
    chat_id: str
    name: str


class PinBody(BaseModel):
    isPinned: bool


class FromTemplateBody(BaseModel):
    templateId: str
    name: str | None = None
    description: str | None = None
    modelId: str | None = None
    systemPrompt: str | None = None
    collectionNames: list[str] | None = None
    temperature: float | None = None
    maxTokens: int | None = None
    isPublic: bool | None = None
    tags: list[str] | None = None


class DocumentIdsBody(BaseModel):
    document_ids: list[str]


class AgentCreateBody(BaseModel):
    name: str
    modelId: str
    description: str = ""
    systemPrompt: str = ""
    collectionNames: list[str] = []
    tools: list[Any] = []
    temperature: float = 0.7
    maxTokens: int = 4000
    isPublic: bool = False
    tags: list[str] = []


class AgentUpdateBody(BaseModel):
    name: str | None = None
    modelId: str | None = None
    description: str | None = None
    systemPrompt: str | None = None
    collectionNames: list[str] | None = None
    tools: list[Any] | None = None
    temperature: float | None = None
    maxTokens: int | None = None
    isPublic: bool | None = None
    tags: list[str] | None = None


class CollectionCreateBody(BaseModel):
    name: str
    permission: PermissionName = "PRIVATE"
    modelId: str | None = None


class CollectionUpdateBody(BaseModel):
    name: str | None = None
    permission: PermissionName | None = None


def hold_the_loop(seconds: float) -> None:
    """What a synchronous bcrypt check inside an async handler does: nothing else runs meanwhile."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def auth_routes(app: FastAPI, state: BackendState) -> None:
    deviations = state.settings.faults.deviations

    def userreply(user: User) -> dict[str, Any]:
        body = user.to_blue_json()
        if deviations.hash_in_user_replies:  # the real blue's defect, planted on request only
            body["password"] = state.users.bcrypt_shaped_hash(user)
        return body

    @app.post("/api/auth/admin/login")
    async def admin_login(body: AdminLoginBody) -> JSONResponse:
        user = state.users.get(body.username)
        if user is None or not role_allowed(user.role, ADMIN_ROLES) or not state.users.has_password(user):
            raise fail(401, "User account not found or password not set")
        if deviations.login_cpu_ms > 0:
            hold_the_loop(deviations.login_cpu_ms / 1000)
        if not state.users.check_password(user, body.password):
            raise fail(401, "Password is incorrect")
        return reply({"token": state.tokens.mint_blue(user), "user": userreply(user)})

    @app.post("/api/auth/refresh")
    async def refresh(user: AnyUser) -> JSONResponse:
        return reply({"token": state.tokens.mint_blue(user)})

    @app.get("/api/auth/me")
    async def me(user: AnyUser) -> JSONResponse:
        return reply(userreply(user))


def owned_chat(state: BackendState, chat_id: str, user: User) -> Chat:
    chat = state.store.get_chat(chat_id) if is_object_id(chat_id) else None
    if chat is None:
        raise fail(404, "Chat history not found")
    if chat.user_id != user.id:
        raise fail(403, "Not authorized to access this chat")
    return chat


def chat_routes(app: FastAPI, state: BackendState) -> None:

    @app.get("/api/chat/history")
    async def history(user: AnyUser) -> JSONResponse:
        return reply([chat.to_json() for chat in state.store.chats_of(user.id)])

    @app.get("/api/chat/history/{chat_id}")
    async def history_one(chat_id: str, user: AnyUser) -> JSONResponse:
        return reply(owned_chat(state, chat_id, user).to_json())

    @app.delete("/api/chat/{chat_id}")
    async def delete_chat(chat_id: str, user: AnyUser) -> JSONResponse:
        state.store.delete_chat(owned_chat(state, chat_id, user).id)
        return reply({"message": "Chat deleted successfully"})

    @app.post("/api/chat/update-name")
    async def update_name(body: UpdateNameBody, user: AnyUser) -> JSONResponse:
        chat = owned_chat(state, body.chat_id, user)
        state.store.rename_chat(chat, body.name)
        return reply(chat.to_json())

    @app.post("/api/chat/{chat_id}/pin")
    async def pin(chat_id: str, body: PinBody, user: AnyUser) -> JSONResponse:
        chat = owned_chat(state, chat_id, user)
        state.store.pin_chat(chat, body.isPinned)
        return reply(chat.to_json())

    @app.post("/api/chat/{chat_id}/clear-memory")
    async def clear_memory(chat_id: str, user: AnyUser) -> JSONResponse:
        state.store.clear_memory(owned_chat(state, chat_id, user))
        return reply({"message": "Chat memory cleared successfully"})

    @app.get("/api/chat/memory/stats")
    async def memory_stats(user: AdminUser) -> JSONResponse:
        return reply(state.store.memory_stats())


def agent_routes(app: FastAPI, state: BackendState) -> None:
    store = state.store

    def readable(agent_id: str, claims: dict[str, Any]) -> Agent:
        agent = store.get_agent(agent_id) if is_object_id(agent_id) else None
        if agent is None:
            raise fail(404, "Agent not found")
        if not agent.is_public and agent.created_by != claims["username"]:
            raise fail(403, "Not authorized to access this agent")
        return agent

    def owned(agent_id: str, claims: dict[str, Any]) -> Agent:
        agent = readable(agent_id, claims)
        if agent.id == BUILTIN_AGENT_ID or agent.created_by != claims["username"]:
            raise fail(403, "Not authorized to modify this agent")
        return agent

    @app.get("/api/agents/")
    async def list_agents(claims: AnyRoleClaims) -> JSONResponse:
        username = claims["username"]
        return reply([a.to_json() for a in store.agents() if a.is_public or a.created_by == username])

    @app.get("/api/agents/templates")
    async def templates() -> JSONResponse:
        return reply(AGENT_TEMPLATES)

    @app.post("/api/agents/from-template")
    async def from_template(body: FromTemplateBody, claims: AnyRoleClaims) -> JSONResponse:
        template = next((t for t in AGENT_TEMPLATES if t["id"] == body.templateId), None)
        if template is None:
            raise fail(400, f"Template {body.templateId} not found")
        fields = {
            "name": template["name"],
            "description": template["description"],
            "systemPrompt": template["systemPrompt"],
            "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "collectionNames": template["recommendedCollections"],
            "tags": template["tags"],
            **body.model_dump(exclude={"templateId"}, exclude_none=True),
        }
        return reply(store.create_agent(claims["username"], fields).to_json())

    @app.get("/api/agents/{agent_id}")
    async def get_agent(agent_id: str, claims: AnyRoleClaims) -> JSONResponse:
        return reply(readable(agent_id, claims).to_json())

    @app.post("/api/agents/")
    async def create_agent(body: AgentCreateBody, claims: AnyRoleClaims) -> JSONResponse:
        agent = store.create_agent(claims["username"], body.model_dump())
        return reply(agent.to_json())

    @app.put("/api/agents/{agent_id}")
    async def update_agent(agent_id: str, body: AgentUpdateBody, claims: AnyRoleClaims) -> JSONResponse:
        agent = owned(agent_id, claims)
        updates = {k: v for k, v in body.model_dump(exclude_none=True).items() if k in AGENT_FIELDS}
        if not updates:
            raise fail(400, "No updates provided")
        store.update_agent(agent, updates)
        return reply(agent.to_json())

    @app.delete("/api/agents/{agent_id}")
    async def delete_agent(agent_id: str, claims: AnyRoleClaims) -> JSONResponse:
        store.delete_agent(owned(agent_id, claims).id)
        return reply({"message": "Agent deleted successfully"})

    @app.post("/api/agents/{agent_id}/use")
    async def use_agent(agent_id: str, claims: AnyRoleClaims) -> JSONResponse:
        readable(agent_id, claims).usage_count += 1
        return reply({"message": "Usage count updated"})

    @app.post("/api/agents/{agent_id}/rate")
    async def rate_agent(
        agent_id: str, rating: Annotated[float, Query(ge=0, le=5)], claims: AnyRoleClaims
    ) -> JSONResponse:
        agent = readable(agent_id, claims)
        agent.rating = (agent.rating * agent.rating_count + rating) / (agent.rating_count + 1)
        agent.rating_count += 1
        return reply({"message": "Rating updated"})


def collection_routes(app: FastAPI, state: BackendState) -> None:
    store = state.store

    def readable(collection_id: str, user: User) -> Collection:
        collection = store.get_collection(collection_id) if is_object_id(collection_id) else None
        if collection is None:
            raise fail(404, "Collection not found")
        if not can_read_collection(collection, user.username, user.role):
            raise fail(403, "Not authorized to access this collection")
        return collection

    def writable(collection_id: str, user: User) -> Collection:
        collection = readable(collection_id, user)
        if collection.created_by != user.username and not role_allowed(user.role, ADMIN_ROLES):
            raise fail(403, "Not authorized to modify this collection")
        return collection

    def summary(collection: Collection) -> dict[str, Any]:
        body = collection.to_json()
        return {k: body[k] for k in ("id", "_id", "name", "permission", "createdBy", "createdAt", "modelId")}

    @app.get("/api/collections/")
    async def list_collections(user: AnyUser) -> JSONResponse:
        return reply([summary(c) for c in visible_collections(store, user.username, user.role)])

    @app.get("/api/collections/public")
    async def public_collections() -> JSONResponse:
        return reply([summary(c) for c in store.collections() if c.permission == "PUBLIC"])

    @app.post("/api/collections/")
    async def create_collection(body: CollectionCreateBody, user: AnyUser) -> JSONResponse:
        problem = collection_name_problem(body.name)
        if problem is not None:
            raise fail(400, f"Failed to create collection: {problem}")
        try:
            collection = store.create_collection(body.name, body.permission, user.username, body.modelId)
        except NameTakenError as exc:
            raise fail(400, f"Failed to create collection: {exc}") from exc
        return reply(summary(collection), 201)

    @app.put("/api/collections/{collection_id}")
    async def update_collection(collection_id: str, body: CollectionUpdateBody, user: AnyUser) -> JSONResponse:
        collection = writable(collection_id, user)
        if body.name is not None and (problem := collection_name_problem(body.name)) is not None:
            raise fail(400, f"Failed to update collection: {problem}")
        try:
            store.update_collection(collection, body.name, body.permission)
        except NameTakenError as exc:
            raise fail(400, f"Failed to update collection: {exc}") from exc
        return reply(summary(collection))

    @app.delete("/api/collections/{collection_id}", status_code=204)
    async def delete_collection(collection_id: str, user: AnyUser) -> Response:
        if user.role == "Students":
            raise fail(403, "Students cannot delete collections")
        store.delete_collection(writable(collection_id, user).id)
        return Response(status_code=204)

    @app.get("/api/collections/{collection_id}/documents")
    async def documents(
        collection_id: str,
        user: AnyUser,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JSONResponse:
        chunks = store.chunks_of(readable(collection_id, user).id)[offset : offset + limit]
        return reply([{"id": c.id, "text": c.text, "metadata": c.metadata} for c in chunks])

    @app.delete("/api/collections/{collection_id}/documents")
    async def delete_documents(collection_id: str, body: DocumentIdsBody, user: AnyUser) -> JSONResponse:
        if user.role == "Students":
            raise fail(403, "Not authorized to delete documents from this collection")
        collection = writable(collection_id, user)
        store.delete_chunks(collection.id, body.document_ids)
        return reply({"message": f"{len(body.document_ids)} documents deleted successfully."})

    @app.post("/api/training/upload")
    async def training_upload(request: Request, user: AnyUser) -> JSONResponse:
        """Multipart fields ``file``, ``modelId``, ``collectionName``."""
        limit = state.settings.document_max_bytes
        form, file = await read_upload(request, fields=("modelId", "collectionName"), keep_file_bytes=limit)
        collection_name = form.fields["collectionName"]
        collection = store.collection_by_name(collection_name)
        if collection is None:
            # Documents are addressed by collection name, and the real vector store creates the
            # collection on first use.
            problem = collection_name_problem(collection_name)
            if problem is not None:
                raise fail(400, problem)
            collection = store.create_collection(collection_name, "PRIVATE", user.username, form.fields["modelId"])
        elif not can_read_collection(collection, user.username, user.role):
            raise fail(403, "Not authorized to access this collection")
        if file.content is None:
            raise fail(400, f"File too large (max {size_text(limit)})")
        result = ingest(store, collection, file.filename, bytes(file.content), formats=BLUE_FORMATS, overlap=200)
        if result.problem is not None:
            raise fail(400, f"Error processing file: {result.problem}")
        return reply(
            {
                "message": "File processed successfully with vector embeddings",
                "chunks": result.document.total_chunks,
            }
        )


def upload_routes(app: FastAPI, state: BackendState) -> None:
    limit = state.settings.upload_limit_bytes

    @app.post("/api/upload")
    async def upload(request: Request, user: AnyUser) -> JSONResponse:
        """Multipart field ``file``. Only its size and type are kept, never its bytes."""
        _, file = await read_upload(request)
        if file.size > limit:
            raise fail(400, f"File too large (max {size_text(limit)})")
        record = state.store.add_upload(file.filename, file.content_type, file.size, user.id)
        return reply({"url": f"{request.base_url}uploads/{quote(record.key)}", "mediaType": file.content_type})


def admin_routes(app: FastAPI, state: BackendState) -> None:

    @app.get("/api/admin/all")
    async def all_admins(claims: SuperAdminClaims) -> JSONResponse:
        admins = [u.to_blue_json() for u in state.users if role_allowed(u.role, ADMIN_ROLES)]
        return reply(
            [
                {k: a[k] for k in ("id", "username", "nameID", "email", "firstName", "lastName", "department", "role")}
                for a in admins
            ]
        )

    @app.get("/api/stats/stats")
    async def stats(claims: AdminClaims, start_date: str | None = None, end_date: str | None = None) -> JSONResponse:
        return reply(state.store.daily_stats(start_date, end_date))

    @app.get("/api/stats/stats/total")
    async def stats_total(claims: AdminClaims) -> JSONResponse:
        return reply(state.store.total_stats(len(state.users)))

    @app.get("/api/stats/stats/daily")
    async def stats_daily(claims: AdminClaims) -> JSONResponse:
        return reply(state.store.today_stats())
