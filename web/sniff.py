"""What an upload is, from its first bytes: the audio and video containers FFmpeg reads and browsers record."""

from __future__ import annotations

# format → the content type it is served back with
CONTENT_TYPES = {
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "m4a": "audio/mp4",
    "amr": "audio/amr",
    "aiff": "audio/aiff",
}
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
