"""What an upload is, from its first bytes: the audio and video containers FFmpeg reads and browsers record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    content_type: str  # what an upload in it is served back with
    name: str  # what the page and the API's messages call it
    suffixes: tuple[str, ...]  # what the page's file picker offers


# every format we take, in the order the page names them
FORMATS: dict[str, Format] = {
    "ogg": Format("audio/ogg", "OGG", (".ogg", ".oga", ".opus")),
    "webm": Format("audio/webm", "WebM", (".webm",)),
    "mp3": Format("audio/mpeg", "MP3", (".mp3",)),
    "m4a": Format("audio/mp4", "M4A", (".m4a", ".mp4")),
    "wav": Format("audio/wav", "WAV", (".wav",)),
    "flac": Format("audio/flac", "FLAC", (".flac",)),
    "aac": Format("audio/aac", "AAC", (".aac",)),
    "amr": Format("audio/amr", "AMR", (".amr",)),
    "aiff": Format("audio/aiff", "AIFF", (".aiff", ".aif")),
}
FORMAT_NAMES = ", ".join(f.name for f in FORMATS.values())
HEAD_BYTES = 12  # enough to tell them apart


def audio_format(head: bytes) -> str | None:
    """The container of a file starting with ``head`` (at least ``HEAD_BYTES`` of it), or None if it is not one
    we take (then it is not audio: text, images, archives...)."""
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM/Matroska, what Chromium's MediaRecorder makes
        return "webm"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3"):
        return "mp3"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame's sync word
        return "mp3" if (head[1] >> 1) & 3 else "aac"  # layer III/II/I, or layer 0: AAC in ADTS
    if head[4:8] == b"ftyp":
        return "m4a"  # MP4/M4A/MOV: the sound track is used
    if head.startswith(b"#!AMR"):
        return "amr"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    return None
