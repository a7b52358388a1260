"""A streaming multipart/form-data reader that counts file bytes instead of storing them.

Starlette's form parser spools every file over 1 MB to a temporary file through a thread pool.
Uploads here only need a size (and documents their bytes up to a limit), so this reader runs on the
event loop, keeps at most ``keep_file_bytes`` of a file, and never touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

if TYPE_CHECKING:  # defined for type checkers only
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32


class MultipartError(ValueError):
    """The body is not a well-formed multipart form; the message is safe to show the client."""


@dataclass(slots=True)
class FilePart:
    filename: str
    content_type: str
    size: int = 0
    # The file's bytes, while they fit in the reader's ``keep_file_bytes``; ``None`` otherwise.
    content: bytearray | None = None


@dataclass(slots=True)
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)


@dataclass(slots=True)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    file: FilePart | None = None
    data: bytearray = field(default_factory=bytearray)


class _Reader:
    def __init__(self, keep_file_bytes: int) -> None:
        self.keep = keep_file_bytes
        self.form = Form()
        self.part = _Part()
        self.parts = 0
        self._header_name = b""
        self._header_value = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise MultipartError("Too many parts in the form")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if b"name" not in options:
            raise MultipartError('A form part has no "name" in its Content-Disposition')
        self.part.name = options[b"name"].decode("utf-8", errors="replace")
        if b"filename" in options:
            self.part.file = FilePart(
                filename=options[b"filename"].decode("utf-8", errors="replace"),
                content_type=self.part.headers.get(b"content-type", b"application/octet-stream").decode("latin-1"),
                content=bytearray() if self.keep > 0 else None,
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        file = self.part.file
        if file is None:
            if len(self.part.data) + end - start > MAX_FIELD_BYTES:
                raise MultipartError("A form field is too large")
            self.part.data += data[start:end]
            return
        file.size += end - start
        if file.content is not None:
            if file.size > self.keep:
                file.content = None  # over the limit: only the count goes on
            else:
                file.content += data[start:end]

    def on_part_end(self) -> None:
        if self.part.file is not None:
            self.form.files[self.part.name] = self.part.file
        else:
            self.form.fields[self.part.name] = self.part.data.decode("utf-8", errors="replace")


async def read_form(request: Request, *, keep_file_bytes: int = 0) -> Form:
    """Read the whole body; each file keeps its bytes only if they fit in ``keep_file_bytes``."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise MultipartError("Expected a multipart/form-data body")
    reader = _Reader(keep_file_bytes)
    try:
        parser = MultipartParser(options[b"boundary"], reader.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise MultipartError(f"Malformed multipart body: {exc}") from exc
    return reader.form
