"""The stored documents of both colors (chats, messages, agents, collections, documents, chunks,
uploads) as each color serialises them, and the id and time formats they share."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

Permission = Literal["PUBLIC", "PRIVATE", "DEPARTMENT"]


PERMISSIONS: tuple[str, ...] = ("PUBLIC", "PRIVATE", "DEPARTMENT")


# The real stats pages count days in Asia/Bangkok, which has had no DST since 1920: a fixed offset
# keeps the stand-in free of a tzdata dependency.
_BANGKOK = timezone(timedelta(hours=7))


def new_id() -> str:
    """A 24-hex id, the shape of a Mongo ObjectId."""
    return secrets.token_hex(12)


def is_object_id(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 24:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def iso(ts: float) -> str:
    """A timestamp as JavaScript's ``Date.toISOString`` prints it (milliseconds, ``Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def stats_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, _BANGKOK).date().isoformat()


@dataclass(slots=True)
class Message:
    id: str
    role: Literal["user", "assistant"]
    content: str
    timestamp: float
    images: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "timestamp": iso(self.timestamp),
        }
        if self.images:
            body["images"] = self.images
        return body


@dataclass(slots=True)
class Chat:
    id: str
    user_id: str
    name: str
    agent_id: str | None
    created_at: float
    updated_at: float
    messages: list[Message] = field(default_factory=list)
    is_pinned: bool = False
    # The conversation memory the model is given (the real backends keep it in Redis): the messages
    # since the last clear, counted here rather than copied.
    memory_messages: int = 0

    def to_json(self) -> dict[str, Any]:
        # Both id spellings: FastAPI serialises by alias (``_id``) in some builds and by field name
        # in others, and Mongoose documents carry ``_id``; clients may rely on either.
        return {
            "_id": self.id,
            "id": self.id,
            "userId": self.user_id,
            "name": self.name,
            "chatname": self.name,
            "agentId": self.agent_id,
            "isPinned": self.is_pinned,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "messages": [m.to_json() for m in self.messages],
        }


@dataclass(slots=True)
class Agent:
    id: str
    name: str
    description: str
    system_prompt: str
    model_id: str
    collection_names: list[str]
    temperature: float
    max_tokens: int
    is_public: bool
    tags: list[str]
    created_by: str
    created_at: float
    updated_at: float
    usage_count: int = 0
    rating: float = 0.0
    rating_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "systemPrompt": self.system_prompt,
            "modelId": self.model_id,
            "collectionNames": self.collection_names,
            "tools": [],
            "temperature": self.temperature,
            "maxTokens": self.max_tokens,
            "isPublic": self.is_public,
            "tags": self.tags,
            "createdBy": self.created_by,
            "usageCount": self.usage_count,
            "rating": self.rating,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


# Agent fields a client may set, by their JSON name, with the attribute each one maps to.
AGENT_FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "systemPrompt": "system_prompt",
    "modelId": "model_id",
    "collectionNames": "collection_names",
    "temperature": "temperature",
    "maxTokens": "max_tokens",
    "isPublic": "is_public",
    "tags": "tags",
}


@dataclass(slots=True)
class Collection:
    id: str
    name: str
    permission: str
    created_by: str
    model_id: str | None
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "id": self.id,
            "name": self.name,
            "permission": self.permission,
            "createdBy": self.created_by,
            "department": None,
            "modelId": self.model_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(slots=True)
class Document:
    id: str
    collection_id: str
    filename: str
    total_chunks: int
    total_characters: int
    status: Literal["completed", "failed"]
    created_at: float


@dataclass(slots=True)
class Chunk:
    id: str
    collection_id: str
    document_id: str
    text: str
    metadata: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "collectionId": self.collection_id,
            "documentId": self.document_id,
            "text": self.text,
            "metadata": self.metadata,
        }


@dataclass(slots=True)
class Upload:
    """Metadata of an uploaded file; the bytes themselves are never kept."""

    key: str
    filename: str
    media_type: str
    size: int
    user_id: str
    created_at: float
