"""Subtitles from a transcript's segments: SRT and WebVTT cues of at most 7 s and 2 lines of 42 characters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CUE_S = 7.0
MAX_LINE = 42
MAX_LINES = 2


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _wrap(words: Sequence[str]) -> list[str]:
    """Words into lines of at most ``MAX_LINE`` characters (a longer word gets a line of its own)."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= MAX_LINE:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def cues(segments: Iterable[Mapping[str, Any]]) -> list[Cue]:
    """Split each segment (``start``, ``end`` in seconds, ``text``) into cues that fit the limits; a segment's time
    is shared among its cues in proportion to their characters."""
    out: list[Cue] = []
    for segment in segments:
        start, end = float(segment["start"]), float(segment["end"])
        lines = _wrap(str(segment["text"]).split())
        if not lines:
            continue
        # pieces of ≤ MAX_LINES lines, then more pieces while one would last longer than MAX_CUE_S
        pieces = [lines[i : i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
        span = max(end - start, 0.0)
        while span / len(pieces) > MAX_CUE_S and any(len(p) > 1 for p in pieces):
            pieces = [[line] for piece in pieces for line in piece]
        total = sum(len(" ".join(p)) for p in pieces)
        at = start
        for piece in pieces:
            share = span * len(" ".join(piece)) / total if total else span / len(pieces)
            if share > MAX_CUE_S:  # a single line spoken slowly: shown for the longest a cue may last
                out.append(Cue(at, at + MAX_CUE_S, tuple(piece)))
            else:
                out.append(Cue(at, at + share, tuple(piece)))
            at += share
    return out


def _stamp(seconds: float, separator: str) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: Iterable[Mapping[str, Any]]) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    blocks = [
        f"{number}\n{_stamp(cue.start, ',')} --> {_stamp(cue.end, ',')}\n" + "\n".join(cue.lines) + "\n"
        for number, cue in enumerate(cues(segments), 1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Iterable[Mapping[str, Any]]) -> str:
    """WebVTT text: ``WEBVTT`` then cues, ``HH:MM:SS.mmm --> HH:MM:SS.mmm``."""
    blocks = [
        f"{_stamp(cue.start, '.')} --> {_stamp(cue.end, '.')}\n" + "\n".join(cue.lines) + "\n" for cue in cues(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def clock(seconds: float) -> str:
    """``[mm:ss]`` (``[h:mm:ss]`` past an hour): a transcript line's timestamp."""
    whole = int(max(seconds, 0.0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"


def timestamped_text(segments: Iterable[Mapping[str, Any]]) -> str:
    """The transcript as lines ``[mm:ss] text``, one per segment (the page's .txt download)."""
    return "".join(f"{clock(float(s['start']))} {str(s['text']).strip()}\n" for s in segments if str(s["text"]).strip())
