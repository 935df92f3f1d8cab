"""Receiving an upload: the multipart body streamed to the job's folder, its size checked chunk by chunk (a file
over the limit is refused before the rest of the body is read) and its format told from its first bytes."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web

from web.sniff import HEAD_BYTES, audio_format

CHUNK = 64 * 1024
MAX_FIELD = 256  # bytes of a text field (strength, language)
MULTIPART_SLACK = 16 * 1024  # room for the boundaries and the text fields around the file


class UploadRefused(Exception):
    """The upload cannot be taken: ``code`` names the error, ``status`` is the HTTP one, ``message`` the text
    (``web.texts.ERRORS``; by default the code's) and ``values`` fill it."""

    def __init__(self, code: str, status: int, message: str | None = None, **values: object) -> None:
        super().__init__(code)
        self.code, self.status, self.message, self.values = code, status, message or code, values


@dataclass
class Upload:
    path: Path  # the file, in its job's folder, named original.<format>
    kind: str  # its format
    size: int
    fields: dict[str, str] = field(default_factory=dict)


async def receive(request: web.Request, folder: Path, max_bytes: int) -> Upload:
    """Stream the request's multipart ``file`` into ``folder`` (created; removed again when the upload is refused)
    and read its text fields. Raises ``UploadRefused``: 413 past ``max_bytes`` (from Content-Length before reading
    anything, else as soon as the streamed file passes it), 415 for what is not audio, 400 without a file."""
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_SLACK:
        raise UploadRefused("too_big", 413)
    if not request.content_type.startswith("multipart/"):
        raise UploadRefused("no_file", 400)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return await _read_parts(request, folder, max_bytes)
    except BaseException:
        for leftover in folder.iterdir():
            leftover.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()
        raise


async def _read_parts(request: web.Request, folder: Path, max_bytes: int) -> Upload:
    fields: dict[str, str] = {}
    upload: Upload | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise UploadRefused("bad_request", 400, "nested_multipart")
        if part.name == "file" and upload is None:
            upload = await _save_file(part, folder, max_bytes)
        elif part.name:
            fields[part.name] = await _small_field(part)
    if upload is None:
        raise UploadRefused("no_file", 400)
    upload.fields = fields
    return upload


async def _small_field(part: BodyPartReader) -> str:
    data = b""
    while chunk := await part.read_chunk(MAX_FIELD + 1):
        data += chunk
        if len(data) > MAX_FIELD:
            raise UploadRefused("bad_request", 400, "field_too_long", field=part.name)
    return data.decode("utf-8", errors="replace").strip()


async def _save_file(part: BodyPartReader, folder: Path, max_bytes: int) -> Upload:
    partial = folder / "upload.part"
    size = 0
    kind: str | None = None
    head = b""
    with partial.open("wb") as out:  # local disk, 64-KB writes: not worth a thread each
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadRefused("too_big", 413)
            if kind is None:
                head += chunk
                if len(head) >= HEAD_BYTES:
                    kind = audio_format(head)
                    if kind is None:
                        raise UploadRefused("not_audio", 415)
            out.write(chunk)
    if size == 0:
        raise UploadRefused("no_file", 400)
    kind = kind or audio_format(head)
    if kind is None:
        raise UploadRefused("not_audio", 415)
    path = folder / f"original.{kind}"
    os.replace(partial, path)
    return Upload(path=path, kind=kind, size=size)
