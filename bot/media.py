"""What audio a message carries, if any: one description for voice, audio, round video, video and files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from aiogram.types import Message

AUDIO_EXTENSIONS = {".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wav", ".flac", ".wma", ".amr", ".webm"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".mkv", ".avi"}


@dataclass(frozen=True)
class Media:
    kind: str  # voice, audio, video_note, video, document
    file_id: str
    file_unique_id: str
    file_size: int | None
    duration_s: float | None


def _is_audio_document(mime: str | None, name: str | None) -> bool:
    suffix = PurePath(name or "").suffix.lower()
    return (mime or "").startswith(("audio/", "video/")) or suffix in AUDIO_EXTENSIONS | VIDEO_EXTENSIONS


def media_of(message: Message) -> Media | None:
    """The audio-bearing attachment of ``message``, or ``None`` (text, sticker, photo, other files...)."""
    for kind in ("voice", "audio", "video_note", "video"):
        item = getattr(message, kind)
        if item is not None:
            return Media(kind, item.file_id, item.file_unique_id, item.file_size, float(item.duration))
    document = message.document
    if document is not None and _is_audio_document(document.mime_type, document.file_name):
        return Media("document", document.file_id, document.file_unique_id, document.file_size, None)
    return None
