"""Text extraction and chunking for knowledge documents, with the standard library only."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
import zlib
from pathlib import PurePosixPath

BLUE_FORMATS: frozenset[str] = frozenset({".pdf", ".doc", ".docx", ".xls", ".xlsx", ".csv", ".txt"})
GREEN_FORMATS: frozenset[str] = frozenset({".txt", ".pdf", ".md", ".csv", ".json"})

_TAG = re.compile(rb"<[^>]+>")
_PDF_TJ = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj", re.DOTALL)
_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)
_PDF_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
_PDF_ESCAPE = re.compile(rb"\\([nrtbf()\\]|[0-7]{1,3})")


class DocumentError(ValueError):
    """The file could not be turned into text; the message says why, for the client."""


def extension(filename: str) -> str:
    return PurePosixPath(filename).suffix.lower()


def extract_text(filename: str, content: bytes) -> str:
    ext = extension(filename)
    if ext == ".pdf":
        return _pdf_text(content)
    if ext in (".docx", ".doc"):
        return _office_text(content, ("word/document.xml",))
    if ext in (".xlsx", ".xls"):
        return _office_text(content, ("xl/sharedStrings.xml", "xl/worksheets/"))
    text = _utf8(content)
    if ext == ".json":
        try:
            json.loads(text)
        except ValueError as exc:
            raise DocumentError(f"Invalid JSON: {exc}") from exc
    return text


def _utf8(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError("File is not valid UTF-8 text") from exc


def _pdf_unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code in _PDF_ESCAPES:
        return _PDF_ESCAPES[code]
    if code.isdigit():
        return bytes([int(code, 8) & 0xFF])
    return code


def _pdf_text(content: bytes) -> str:
    """The text shown by ``(...) Tj`` operators, in plain or Flate-compressed content streams.

    A stand-in needs no real PDF parser: what a load test measures is that an upload is accepted,
    chunked and stored, and the suite's own fixture PDFs use simple ``Tj`` text. Fonts, encodings and
    OCR are the real backend's business.
    """
    if not content.startswith(b"%PDF-"):
        raise DocumentError("Not a PDF file")
    sources = [content]
    for stream in _PDF_STREAM.findall(content):
        try:
            sources.append(zlib.decompress(stream))
        except zlib.error:
            continue
    parts = [_PDF_ESCAPE.sub(_pdf_unescape, m) for source in sources for m in _PDF_TJ.findall(source)]
    return b"\n".join(parts).decode("latin-1")


def _office_text(content: bytes, members: tuple[str, ...]) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [n for n in archive.namelist() if any(n.startswith(m) for m in members)]
            if not names:
                raise DocumentError("No text part in the document")
            parts = [_TAG.sub(b" ", archive.read(name)) for name in sorted(names)]
    except zipfile.BadZipFile as exc:
        raise DocumentError("Not an Office Open XML file") from exc
    text = html.unescape(b" ".join(parts).decode("utf-8", errors="replace"))
    return " ".join(text.split())


def chunk_text(text: str, size: int = 1000, overlap: int = 200) -> list[str]:
    """Fixed-size character windows, each overlapping the previous by ``overlap`` characters."""
    if size <= overlap:
        raise ValueError("size must exceed overlap")
    text = text.strip()
    if not text:
        return []
    step = size - overlap
    return [text[start : start + size] for start in range(0, max(len(text) - overlap, 1), step)]
