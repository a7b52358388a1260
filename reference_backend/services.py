"""Domain rules both colors share: collection names and access, document ingestion, search, uploads."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from reference_backend.documents import DocumentError, chunk_text, extension, extract_text
from reference_backend.multipart import FilePart, Form, MultipartError, read_form
from reference_backend.store import Chunk, Collection, Document, Store

_COLLECTION_NAME = re.compile(r"[A-Za-z0-9 _-]{3,100}")
_WORD = re.compile(r"\w+")


def size_text(limit: int) -> str:
    """``5 MB`` for a whole number of megabytes (the real message), bytes otherwise."""
    mb = 1024 * 1024
    return f"{limit // mb} MB" if limit % mb == 0 else f"{limit} bytes"


def collection_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid collection name, or ``None`` if it is."""
    if not 3 <= len(name) <= 100:
        return "Collection name must be between 3 and 100 characters"
    if _COLLECTION_NAME.fullmatch(name) is None:
        return "Collection name may contain only letters, digits, spaces, hyphens and underscores"
    return None


def can_read_collection(collection: Collection, username: str, role: str | None) -> bool:
    if collection.permission == "PUBLIC" or collection.created_by == username:
        return True
    return collection.permission == "DEPARTMENT" and role in ("Admin", "SuperAdmin")


def visible_collections(store: Store, username: str, role: str | None) -> list[Collection]:
    return [c for c in store.collections() if can_read_collection(c, username, role)]


@dataclass(frozen=True, slots=True)
class Ingested:
    document: Document
    problem: str | None  # why processing failed, when it did


def ingest(
    store: Store,
    collection: Collection,
    filename: str,
    content: bytes,
    *,
    formats: Iterable[str],
    overlap: int,
) -> Ingested:
    """Extract, chunk and store a document. A failure is recorded as a failed document, not raised."""
    problem: str | None = None
    chunks: list[str] = []
    if extension(filename) not in formats:
        problem = f"Unsupported file type: {extension(filename) or 'none'}"
    else:
        try:
            chunks = chunk_text(extract_text(filename, content), 1000, overlap)
        except DocumentError as exc:
            problem = str(exc)
        if problem is None and not chunks:
            problem = "No text content found in the document"
    document = store.add_document(collection, filename, chunks, failed=problem is not None)
    return Ingested(document=document, problem=problem)


def search(chunks: list[Chunk], query: str, limit: int) -> tuple[list[tuple[Chunk, float]], float]:
    """Chunks ranked by the share of query words they contain (a stand-in for vector similarity),
    and the search time in milliseconds."""
    start = time.perf_counter()
    words = {w.lower() for w in _WORD.findall(query)}
    scored: list[tuple[Chunk, float]] = []
    if words:
        for chunk in chunks:
            text = chunk.text.lower()
            hits = sum(1 for w in words if w in text)
            if hits:
                scored.append((chunk, hits / len(words)))
        scored.sort(key=lambda pair: pair[1], reverse=True)
    return scored[:limit], (time.perf_counter() - start) * 1000


async def read_upload(
    request: Request, *, fields: tuple[str, ...] = (), keep_file_bytes: int = 0
) -> tuple[Form, FilePart]:
    """The multipart form and its ``file`` part; a missing part is a validation error (422 on blue,
    400 on green, each color's handler decides)."""
    try:
        form = await read_form(request, keep_file_bytes=keep_file_bytes)
    except MultipartError as exc:
        raise RequestValidationError([{"type": "multipart", "loc": ("body",), "msg": str(exc), "input": None}]) from exc
    missing = [name for name in (*fields, "file") if name not in (form.files if name == "file" else form.fields)]
    if missing:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body", name), "msg": "Field required", "input": None} for name in missing]
        )
    return form, form.files["file"]
