"""Knowledge collections, their documents, and chat attachments (uploads)."""

from __future__ import annotations

import secrets

from loadtests.dialects.base import (
    CollectionRef,
    Upload,
)
from loadtests.probe.cases.registry import (
    UPLOADS,
    case,
    obs,
    upload_text,
)
from loadtests.probe.session import ColorProbe, Observation


# -- collections and documents -------------------------------------------------------------------
@case("collection.list", "collections", "list collections", uses=UPLOADS)
def _collections(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.list_collections(), p.dialect.read_collections))


@case("collection.public", "collections", "list public collections with no token")
def _public(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.public_collections(), p.dialect.read_collections, token=None))


@case("collection.create", "collections", "create a collection", statuses={"*": (201,)},
      required={"*": ("_id|id", "name", "permission")}, uses=UPLOADS)  # fmt: skip
def _create_collection(p: ColorProbe) -> Observation | None:
    name = f"probe {secrets.token_hex(4)}"
    result = p.http(p.dialect.create_collection(name), lambda r: p.dialect.read_created_collection(r, name))
    assert result is not None
    if result[1].ok and isinstance(result[1].value, CollectionRef):
        p.collection = result[1].value
    return result[0]


@case("collection.create.duplicate", "collections", "create a collection whose name is taken", expect="refused",
      statuses={"blue": (400,), "green": (409,)})  # fmt: skip
def _duplicate(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.create_collection(collection.name)
    return obs(p.http(request, lambda r: p.dialect.read_created_collection(r, collection.name)))


@case("collection.create.invalid_name", "collections", "create a collection with an invalid name",
      expect="refused", statuses={"*": (400,)})  # fmt: skip
def _invalid_name(p: ColorProbe) -> Observation | None:
    return obs(p.http(p.dialect.create_collection("x!"), lambda r: p.dialect.read_created_collection(r, "x!")))


@case("collection.update", "collections", "change a collection's permission", uses=UPLOADS)
def _update_collection(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.update_collection(collection, "PRIVATE")  # still private: collection.other_user needs it
    return obs(p.http(request, lambda r: p.dialect.read_created_collection(r, collection.name)))


@case("collection.document", "collections", "add a text document", uses=UPLOADS)
def _document(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.add_document(collection, upload_text())
    return obs(p.http(request, lambda r: p.dialect.read_document(r, over_limit=False)))


@case("collection.document.over_limit", "collections", "add a document over the size limit", expect="refused",
      statuses={"green": (413,)})  # fmt: skip
def _document_over(p: ColorProbe) -> Observation | None:
    limit = p.dialect.document_limit_bytes
    if limit is None:
        return None  # blue sets no document limit
    collection = p.need(p.collection, "a collection (collection.create)")
    request = p.dialect.add_document(collection, Upload("big.txt", b"x" * (limit + 1024), "text/plain"))
    return obs(p.http(request, lambda r: p.dialect.read_document(r, over_limit=True)))


@case("collection.documents", "collections", "list a collection's documents", uses=UPLOADS)
def _documents(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    result = p.http(p.dialect.list_documents(collection), p.dialect.read_documents)
    assert result is not None
    if result[1].ok:
        p.document_ids = list(result[1].value or [])
    return result[0]


@case("collection.search", "collections", "search a collection", uses=UPLOADS)
def _search(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    return obs(p.http(p.dialect.search(collection, "sorting"), p.dialect.read_search))


@case("collection.stats", "collections", "a collection's statistics", uses=UPLOADS)
def _collection_stats(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    return obs(p.http(p.dialect.collection_stats(collection), p.dialect.read_json))


@case("collection.other_user", "collections", "list the documents of another user's private collection",
      expect="refused", statuses={"*": (403,)})  # fmt: skip
def _collection_other(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    other = p.need(p.other_session, "the other account's session")
    return obs(p.http(p.dialect.list_documents(collection), p.dialect.read_documents, token=other.access_token))


@case("collection.document_delete", "collections", "delete a document", uses=UPLOADS)
def _document_delete(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    ids = p.need(p.document_ids or None, "a document (collection.documents)")
    return obs(p.http(p.dialect.delete_documents(collection, ids[:1]), p.dialect.read_json))


@case("collection.delete", "collections", "delete a collection", uses=UPLOADS)
def _delete_collection(p: ColorProbe) -> Observation | None:
    collection = p.need(p.collection, "a collection (collection.create)")
    return obs(p.http(p.dialect.delete_collection(collection), p.dialect.read_collection_deleted))


# -- uploads -----------------------------------------------------------------------------------
@case("upload.file", "upload", "upload a chat attachment", statuses={"blue": (200,), "green": (201,)},
      required={"*": ("url", "mediaType")}, uses=UPLOADS)  # fmt: skip
def _upload(p: ColorProbe) -> Observation | None:
    upload = Upload("probe.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 2048, "image/png")
    return obs(p.http(p.dialect.upload(upload), lambda r: p.dialect.read_upload(r, over_limit=False)))


@case("upload.file.over_limit", "upload", "upload an attachment over the size limit", expect="refused",
      statuses={"blue": (400,), "green": (413,)})  # fmt: skip
def _upload_over(p: ColorProbe) -> Observation | None:
    upload = Upload("big.bin", b"x" * (p.dialect.upload_limit_bytes + 1024), "application/octet-stream")
    return obs(p.http(p.dialect.upload(upload), lambda r: p.dialect.read_upload(r, over_limit=True)))


@case("upload.file.no_token", "upload", "upload with no token", expect="refused",
      statuses={"blue": (401, 403), "green": (401,)})  # fmt: skip
def _upload_no_token(p: ColorProbe) -> Observation | None:
    upload = Upload("probe.png", b"\x89PNG\r\n\x1a\n", "image/png")
    return obs(p.http(p.dialect.upload(upload), lambda r: p.dialect.read_upload(r, over_limit=False), token=None))
