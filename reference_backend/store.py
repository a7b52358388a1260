"""In-memory storage shared by both colors: chats, agents, collections, documents, uploads.

Everything is bounded by ``StorageLimits`` and evicts the oldest entry first, so a soak run cannot
turn the stand-in into the leak it is supposed to help find. All access happens on the server's
event loop, so there are no locks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from reference_backend.records import (
    AGENT_FIELDS,
    PERMISSIONS,
    Agent,
    Chat,
    Chunk,
    Collection,
    Document,
    Message,
    Permission,
    Upload,
    is_object_id,
    iso,
    new_id,
    stats_day,
)
from reference_backend.settings import BUILTIN_AGENT_ID, StorageLimits

_STATS_DAYS_KEPT = 400


@dataclass(slots=True)
class _DayStats:
    chats: int = 0
    tokens: int = 0
    users: set[str] = field(default_factory=set)


class NameTakenError(ValueError):
    pass


def _trim_oldest(mapping: OrderedDict[str, Any], limit: int, on_evict: Callable[[Any], None]) -> None:
    while len(mapping) > limit:
        _, evicted = mapping.popitem(last=False)
        on_evict(evicted)


class Store:
    """The backend's database. Methods never raise for a missing id: they return ``None``."""

    def __init__(self, limits: StorageLimits, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._chats: OrderedDict[str, Chat] = OrderedDict()
        # user id -> that user's chat ids in creation order; kept so that listing a user's history is
        # not a scan over every chat in the store.
        self._chats_by_user: dict[str, dict[str, None]] = {}
        self._agents: OrderedDict[str, Agent] = OrderedDict()
        self._collections: OrderedDict[str, Collection] = OrderedDict()
        self._collection_names: dict[str, str] = {}
        self._documents: OrderedDict[str, Document] = OrderedDict()
        self._chunks: OrderedDict[str, Chunk] = OrderedDict()
        self._chunks_by_collection: dict[str, OrderedDict[str, None]] = {}
        self._uploads: OrderedDict[str, Upload] = OrderedDict()
        self._days: OrderedDict[str, _DayStats] = OrderedDict()
        now = clock()
        self.builtin_agent = Agent(
            id=BUILTIN_AGENT_ID,
            name="General Assistant",
            description="A helpful general-purpose assistant.",
            system_prompt="You are a helpful assistant.",
            model_id="anthropic.claude-3-5-sonnet-20240620-v1:0",
            collection_names=[],
            temperature=0.7,
            max_tokens=4000,
            is_public=True,
            tags=["general"],
            created_by="system",
            created_at=now,
            updated_at=now,
        )

    # -- chats --------------------------------------------------------------------------------

    def create_chat(self, user_id: str, name: str, agent_id: str | None) -> Chat:
        now = self._clock()
        chat = Chat(id=new_id(), user_id=user_id, name=name, agent_id=agent_id, created_at=now, updated_at=now)
        self._chats[chat.id] = chat
        self._chats_by_user.setdefault(user_id, {})[chat.id] = None
        _trim_oldest(self._chats, self.limits.max_chats, self._forget_chat)
        day = self._day(now)
        day.chats += 1
        day.users.add(user_id)
        return chat

    def _forget_chat(self, chat: Chat) -> None:
        owned = self._chats_by_user.get(chat.user_id)
        if owned is not None:
            owned.pop(chat.id, None)
            if not owned:
                del self._chats_by_user[chat.user_id]

    def get_chat(self, chat_id: str) -> Chat | None:
        return self._chats.get(chat_id)

    def chats_of(self, user_id: str) -> list[Chat]:
        """The user's chats, newest first."""
        ids = self._chats_by_user.get(user_id, {})
        return [self._chats[i] for i in reversed(ids) if i in self._chats]

    def delete_chat(self, chat_id: str) -> bool:
        chat = self._chats.pop(chat_id, None)
        if chat is None:
            return False
        self._forget_chat(chat)
        return True

    def rename_chat(self, chat: Chat, name: str) -> None:
        chat.name = name
        chat.updated_at = self._clock()

    def pin_chat(self, chat: Chat, pinned: bool) -> None:
        chat.is_pinned = pinned
        chat.updated_at = self._clock()

    def clear_memory(self, chat: Chat) -> None:
        chat.memory_messages = 0

    def memory_stats(self, chat: Chat | None = None) -> dict[str, Any]:
        """One chat's memory, or (``None``) the whole store's, as the stats routes report it."""
        if chat is not None:
            return {"chatId": chat.id, "messageCount": chat.memory_messages, "hasMemory": chat.memory_messages > 0}
        remembering = [c.memory_messages for c in self._chats.values() if c.memory_messages]
        return {"total_sessions": len(remembering), "total_messages": sum(remembering)}

    def add_message(
        self,
        chat: Chat,
        role: Literal["user", "assistant"],
        content: str,
        images: list[dict[str, str]] | None = None,
    ) -> Message:
        now = self._clock()
        message = Message(id=new_id(), role=role, content=content, timestamp=now, images=images or [])
        chat.messages.append(message)
        chat.memory_messages = min(chat.memory_messages + 1, self.limits.max_messages_per_chat)
        overflow = len(chat.messages) - self.limits.max_messages_per_chat
        if overflow > 0:
            del chat.messages[:overflow]
        chat.updated_at = now
        if role == "assistant":
            # A rough token count (words) for the stats pages; the real backend records Bedrock usage.
            self._day(now).tokens += len(content.split())
        return message

    # -- agents -------------------------------------------------------------------------------

    def get_agent(self, agent_id: str) -> Agent | None:
        if agent_id == BUILTIN_AGENT_ID:
            return self.builtin_agent
        return self._agents.get(agent_id)

    def agents(self) -> Iterator[Agent]:
        yield self.builtin_agent
        yield from self._agents.values()

    def create_agent(self, created_by: str, fields: dict[str, Any]) -> Agent:
        now = self._clock()
        agent = Agent(
            id=new_id(),
            name=str(fields.get("name", "")),
            description=str(fields.get("description", "")),
            system_prompt=str(fields.get("systemPrompt", "")),
            model_id=str(fields.get("modelId", self.builtin_agent.model_id)),
            collection_names=list(fields.get("collectionNames", [])),
            temperature=float(fields.get("temperature", 0.7)),
            max_tokens=int(fields.get("maxTokens", 4000)),
            is_public=bool(fields.get("isPublic", False)),
            tags=list(fields.get("tags", [])),
            created_by=created_by,
            created_at=now,
            updated_at=now,
        )
        self._agents[agent.id] = agent
        _trim_oldest(self._agents, self.limits.max_agents, lambda _: None)
        return agent

    def update_agent(self, agent: Agent, fields: dict[str, Any]) -> None:
        for json_name, attribute in AGENT_FIELDS.items():
            if json_name in fields:
                setattr(agent, attribute, fields[json_name])
        agent.updated_at = self._clock()

    def delete_agent(self, agent_id: str) -> bool:
        return self._agents.pop(agent_id, None) is not None

    # -- collections, documents, chunks --------------------------------------------------------

    def get_collection(self, collection_id: str) -> Collection | None:
        return self._collections.get(collection_id)

    def collection_by_name(self, name: str) -> Collection | None:
        collection_id = self._collection_names.get(name)
        return None if collection_id is None else self._collections.get(collection_id)

    def collections(self) -> Iterator[Collection]:
        return iter(self._collections.values())

    def create_collection(self, name: str, permission: str, created_by: str, model_id: str | None = None) -> Collection:
        if name in self._collection_names:
            raise NameTakenError(f"Collection '{name}' already exists")
        now = self._clock()
        collection = Collection(
            id=new_id(),
            name=name,
            permission=permission,
            created_by=created_by,
            model_id=model_id,
            created_at=now,
            updated_at=now,
        )
        self._collections[collection.id] = collection
        self._collection_names[name] = collection.id
        _trim_oldest(self._collections, self.limits.max_collections, self._forget_collection)
        return collection

    def update_collection(self, collection: Collection, name: str | None, permission: str | None) -> None:
        if name is not None and name != collection.name:
            if name in self._collection_names:
                raise NameTakenError(f"Collection '{name}' already exists")
            del self._collection_names[collection.name]
            self._collection_names[name] = collection.id
            collection.name = name
        if permission is not None:
            collection.permission = permission
        collection.updated_at = self._clock()

    def delete_collection(self, collection_id: str) -> bool:
        collection = self._collections.pop(collection_id, None)
        if collection is None:
            return False
        self._forget_collection(collection)
        return True

    def _forget_collection(self, collection: Collection) -> None:
        if self._collection_names.get(collection.name) == collection.id:
            del self._collection_names[collection.name]
        for chunk_id in self._chunks_by_collection.pop(collection.id, {}):
            self._chunks.pop(chunk_id, None)
        for document_id in [d.id for d in self._documents.values() if d.collection_id == collection.id]:
            del self._documents[document_id]

    def add_document(self, collection: Collection, filename: str, chunks: list[str], failed: bool) -> Document:
        document = Document(
            id=new_id(),
            collection_id=collection.id,
            filename=filename,
            total_chunks=len(chunks),
            total_characters=sum(len(c) for c in chunks),
            status="failed" if failed else "completed",
            created_at=self._clock(),
        )
        self._documents[document.id] = document
        _trim_oldest(self._documents, self.limits.max_documents, lambda _: None)
        owned = self._chunks_by_collection.setdefault(collection.id, OrderedDict())
        for index, text in enumerate(chunks):
            chunk = Chunk(
                id=f"{document.id}_{index}",
                collection_id=collection.id,
                document_id=document.id,
                text=text,
                metadata={"source": filename, "chunkIndex": index, "documentId": document.id},
            )
            self._chunks[chunk.id] = chunk
            owned[chunk.id] = None
        while len(owned) > self.limits.max_chunks_per_collection:
            chunk_id, _ = owned.popitem(last=False)
            self._chunks.pop(chunk_id, None)
        while len(self._chunks) > self.limits.max_chunks:
            _, chunk = self._chunks.popitem(last=False)
            self._chunks_by_collection.get(chunk.collection_id, OrderedDict()).pop(chunk.id, None)
        return document

    def delete_chunks(self, collection_id: str, chunk_ids: list[str]) -> int:
        """blue deletes by the ids its documents route lists (chunk ids); returns how many went."""
        owned = self._chunks_by_collection.get(collection_id, OrderedDict())
        gone = 0
        for chunk_id in chunk_ids:
            if chunk_id in owned:
                del owned[chunk_id]
                gone += self._chunks.pop(chunk_id, None) is not None
        return gone

    def delete_document(self, collection_id: str, document_id: str) -> bool:
        """green deletes a whole document (all its chunks) by its id."""
        document = self._documents.get(document_id)
        if document is None or document.collection_id != collection_id:
            return False
        del self._documents[document_id]
        owned = self._chunks_by_collection.get(collection_id, OrderedDict())
        for chunk_id in [c for c in owned if c.startswith(document_id + "_")]:
            del owned[chunk_id]
            self._chunks.pop(chunk_id, None)
        return True

    def document_stats(self, collection_id: str) -> dict[str, Any]:
        documents = [d for d in self._documents.values() if d.collection_id == collection_id]
        chunks = self.chunks_of(collection_id)
        types = sorted({d.filename.rsplit(".", 1)[-1].lower() for d in documents if "." in d.filename})
        return {
            "totalDocuments": len(documents),
            "totalChunks": len(chunks),
            "averageChunkSize": round(sum(len(c.text) for c in chunks) / len(chunks)) if chunks else 0,
            "uniqueFileTypes": types,
        }

    def chunks_of(self, collection_id: str) -> list[Chunk]:
        ids = self._chunks_by_collection.get(collection_id, {})
        return [self._chunks[i] for i in ids if i in self._chunks]

    # -- uploads ------------------------------------------------------------------------------

    def add_upload(self, filename: str, media_type: str, size: int, user_id: str) -> Upload:
        now = self._clock()
        upload = Upload(
            key=f"{new_id()}/{filename}",
            filename=filename,
            media_type=media_type,
            size=size,
            user_id=user_id,
            created_at=now,
        )
        self._uploads[upload.key] = upload
        _trim_oldest(self._uploads, self.limits.max_uploads, lambda _: None)
        return upload

    # -- stats --------------------------------------------------------------------------------

    def _day(self, ts: float) -> _DayStats:
        key = stats_day(ts)
        day = self._days.get(key)
        if day is None:
            day = self._days[key] = _DayStats()
            _trim_oldest(self._days, _STATS_DAYS_KEPT, lambda _: None)
        return day

    def daily_stats(self, start: str | None, end: str | None) -> list[dict[str, Any]]:
        """``[{date, uniqueUsers, totalChats, totalTokens}]`` for each recorded day in [start, end]."""
        rows = []
        for date, day in self._days.items():
            if (start is None or date >= start) and (end is None or date <= end):
                rows.append(
                    {"date": date, "uniqueUsers": len(day.users), "totalChats": day.chats, "totalTokens": day.tokens}
                )
        return rows

    def total_stats(self, total_users: int) -> dict[str, int]:
        return {"total_users": total_users, "total_chats": len(self._chats)}

    def today_stats(self) -> dict[str, Any]:
        today = stats_day(self._clock())
        day = self._days.get(today)
        return {"date": today, "total_chats_today": 0 if day is None else day.chats}


__all__ = [
    "AGENT_FIELDS",
    "PERMISSIONS",
    "Agent",
    "Chat",
    "Chunk",
    "Collection",
    "Document",
    "Message",
    "NameTakenError",
    "Permission",
    "Store",
    "Upload",
    "is_object_id",
    "iso",
    "new_id",
    "stats_day",
]
