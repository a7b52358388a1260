"""``UploaderUser``: chat attachments and knowledge documents in real formats and several sizes.

A share of uploads is sent over the target's limit on purpose: the server must refuse them, and a
refusal is recorded as ``refused`` (expected), never as an error; an over-limit file the server
accepts is an error. Documents go into the user's own collection, in the formats the color
ingests; success is judged from the body (green answers 201 with ``status: "failed"``).
"""

from __future__ import annotations

import random

from locust import task

from loadtests.dialects.base import CollectionRef, Upload
from loadtests.payloads import make_payload
from loadtests.users.base import PlatformUser

_QUERIES = ("lecture", "syllabus", "exam schedule", "thesis guidelines", "library hours", "credit transfer")
OVER_LIMIT_MARGIN = 64 * 1024


class UploaderUser(PlatformUser):
    abstract = True
    class_label = "UploaderUser"

    def on_start(self) -> None:
        self._rng = random.Random()
        self.collection: CollectionRef | None = None
        # Build the over-limit files now, in the ramp-up: generating megabytes blocks the event loop.
        for limit in (self.api.dialect.upload_limit_bytes, self.api.dialect.document_limit_bytes):
            if limit is not None and self.profile.uploader.over_limit_share > 0:
                make_payload("txt", limit + OVER_LIMIT_MARGIN)
        if self.api.ensure_session():
            self._own_collection()

    def _own_collection(self) -> CollectionRef | None:
        if self.collection is None:
            name = f"loadbench {self.target.color} {self._rng.randrange(16**8):08x}"
            created = self.api.create_collection(name)
            self.collection = created.value if created.ok else None
        return self.collection

    def _file(self, formats: tuple[str, ...], limit: int | None) -> tuple[Upload, bool]:
        settings = self.profile.uploader
        if limit is not None and self._rng.random() < settings.over_limit_share:
            # The server refuses by size before it parses: one cached over-limit text file per
            # limit, shared by every user (ten-megabyte variants would only cost memory).
            payload = make_payload("txt", limit + OVER_LIMIT_MARGIN)
            return Upload(payload.filename, payload.content, payload.content_type), True
        size = self._rng.choice(settings.sizes_kb) * 1024
        payload = make_payload(self._rng.choice(formats), size, seed=self._rng.randrange(4))  # type: ignore[arg-type]
        return Upload(payload.filename, payload.content, payload.content_type), False

    @task(4)
    def attach(self) -> None:
        if self.api.ensure_session():
            upload, over = self._file(self.profile.uploader.formats, self.api.dialect.upload_limit_bytes)
            self.api.upload(upload, over_limit=over)

    @task(4)
    def add_document(self) -> None:
        if not self.api.ensure_session() or (collection := self._own_collection()) is None:
            return
        allowed = tuple(f for f in self.profile.uploader.formats if f in self.api.dialect.document_formats)
        if allowed:
            upload, over = self._file(allowed, self.api.dialect.document_limit_bytes)
            self.api.add_document(collection, upload, over_limit=over)

    @task(2)
    def search(self) -> None:
        if not self.api.ensure_session() or (collection := self._own_collection()) is None:
            return
        if self.api.search(collection, self._rng.choice(_QUERIES)) is None:
            self.api.list_documents(collection)  # no search route on this color: read the documents

    @task(1)
    def documents(self) -> None:
        if self.api.ensure_session() and (collection := self._own_collection()) is not None:
            self.api.list_documents(collection)
            self.api.collection_stats(collection)  # where the color has the route (green)

    @task(1)
    def prune(self) -> None:
        # Delete the oldest document of the user's collection (blue deletes by the ids its list
        # gives, green one document at a time).
        if not self.api.ensure_session() or (collection := self._own_collection()) is None:
            return
        if not self.api.allowed("collection.document_delete"):
            return
        listed = self.api.list_documents(collection)
        if listed.ok and listed.value:
            self.api.delete_documents(collection, listed.value[:1])

    @task(1)
    def share(self) -> None:
        # Change who may read the collection (PUT); it stays readable by its creator either way.
        if self.api.ensure_session() and (collection := self._own_collection()) is not None:
            self.api.update_collection(collection, self._rng.choice(("PRIVATE", "DEPARTMENT")))

    @task(1)
    def start_over(self) -> None:
        # Now and then a user drops the collection and starts a new one.
        if self._rng.random() >= 0.25 or not self.api.allowed("collection.delete"):
            return
        collection = self._own_collection() if self.api.ensure_session() else None
        if collection is not None and self.api.delete_collection(collection).ok:
            self.collection = None

    @task(1)
    def browse(self) -> None:
        if self.api.ensure_session():
            self.api.list_collections()
