"""Files for uploaders, generated on the fly in real formats and at a requested size.

Every format is a real, parseable file (a PDF with text in ``Tj`` strings, a DOCX zip with
``word/document.xml``, a PNG with valid chunks and CRCs), built with the standard library only,
because an uploader must exercise the server's parsing, not only its socket. Sizes are padded to
the requested byte count (over-limit files are exactly as large as asked), and files are cached per
(format, size): generating 11 MB per request would measure the generator instead of the server.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Format = Literal["txt", "md", "csv", "json", "pdf", "docx", "png"]
FORMATS: tuple[Format, ...] = ("txt", "md", "csv", "json", "pdf", "docx", "png")

CONTENT_TYPES: dict[str, str] = {
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "png": "image/png",
}

_WORDS = (
    "lecture", "syllabus", "assignment", "semester", "laboratory", "thesis", "campus", "library",
    "research", "seminar", "exam", "tutorial", "faculty", "student", "course", "credit", "module",
)  # fmt: skip


@dataclass(frozen=True)
class Payload:
    filename: str
    content: bytes = field(repr=False)
    content_type: str
    format: str

    @property
    def size(self) -> int:
        return len(self.content)


_BLOCK = 64 * 1024


def _prose(rng: random.Random, size: int) -> str:
    # Random words up to one 64 KB block, then that block repeated: a ten-megabyte file must not
    # stall the generator's event loop while it is built (a word at a time took ~0.7 s).
    words, total = [], 0
    while total < min(size, _BLOCK):
        word = rng.choice(_WORDS)
        words.append(word)
        total += len(word) + 1
    block = " ".join(words) + " "
    return (block * (size // len(block) + 1))[:size]


def _pad_text(text: str, size: int, rng: random.Random) -> bytes:
    data = text.encode()
    return data + _prose(rng, size - len(data)).encode() if len(data) < size else data[:size]


def _txt(size: int, rng: random.Random) -> bytes:
    return _pad_text("Course notes\n", size, rng)


def _md(size: int, rng: random.Random) -> bytes:
    return _pad_text("# Course notes\n\n## Week 1\n\n", size, rng)


def _csv(size: int, rng: random.Random) -> bytes:
    header, lines, total = "student,course,score\n", [], 0
    while total < min(size, _BLOCK):
        line = f"s{rng.randrange(10**6):06d},{rng.choice(_WORDS)},{rng.randrange(101)}\n"
        lines.append(line)
        total += len(line)
    block = "".join(lines)
    return (header + block * (size // len(block) + 1)).encode()[:size]


def _json(size: int, rng: random.Random) -> bytes:
    # Stays valid JSON at any size: the padding goes inside a string value.
    skeleton = json.dumps({"title": "Course notes", "body": ""})
    body = _prose(rng, max(0, size - len(skeleton)))
    return json.dumps({"title": "Course notes", "body": body}).encode()


def _pdf(size: int, rng: random.Random) -> bytes:
    text = _prose(rng, 400).replace("(", "").replace(")", "")
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n" % (len(objects) + 1, xref))
    document = out.getvalue()
    # A comment after %%EOF pads the file without changing what a reader sees.
    padding = max(0, size - len(document) - len(b"%%EOF\n"))
    return document + b"%%EOF\n" + (b"%" + b"0" * (padding - 2) + b"\n" if padding >= 2 else b"")


def _docx(size: int, rng: random.Random) -> bytes:
    paragraph = _prose(rng, 600)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p></w:body></w:document>"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", document)
        filler = max(0, size - out.tell() - 200)
        if filler:
            # Stored, not deflated, so the archive reaches the requested size.
            archive.writestr(zipfile.ZipInfo("docProps/padding.bin"), rng.randbytes(filler))
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(size: int, rng: random.Random) -> bytes:
    width, height = 64, 64
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))
    head = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    image = _png_chunk(b"IDAT", zlib.compress(raw))
    end = _png_chunk(b"IEND", b"")
    # An ancillary chunk (lower-case first letter) pads the file: decoders skip it.
    filler = max(0, size - len(head) - len(image) - len(end) - 12)
    padding = _png_chunk(b"tEXt", b"Comment\x00" + b"x" * max(0, filler - 8)) if filler > 8 else b""
    return head + padding + image + end


_BUILDERS = {"txt": _txt, "md": _md, "csv": _csv, "json": _json, "pdf": _pdf, "docx": _docx, "png": _png}


@lru_cache(maxsize=64)
def make_payload(fmt: Format, size: int, seed: int = 0) -> Payload:
    """A file of format ``fmt`` with about ``size`` bytes (exactly, for text formats and padding
    permitting; never less than the smallest valid file of that format)."""
    if fmt not in _BUILDERS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if size < 0:
        raise ValueError("size must be >= 0")
    content = _BUILDERS[fmt](size, random.Random(seed))
    return Payload(f"loadbench-{seed}-{size}.{fmt}", content, CONTENT_TYPES[fmt], fmt)
