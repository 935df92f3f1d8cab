"""Subtitles (SubRip ``.srt``, WebVTT ``.vtt``) and timestamped text, made from Whisper's segments.

A segment is a mapping with ``start`` and ``end`` (seconds) and ``text``, as a job keeps them. Cues follow the
usual subtitle rules: at most ``MAX_CUE_S`` on screen, at most ``MAX_LINES`` lines of ``LINE_CHARS`` characters;
a segment too long for one cue is split at word boundaries, each piece timed by its share of the characters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CUE_S = 7.0
LINE_CHARS = 42
MAX_LINES = 2
# Notes longer than this get [mm:ss] marks at paragraph starts; a paragraph starts after a pause this long, or
# at the first sentence end once it has run for PARAGRAPH_S.
TIMESTAMPS_AFTER_S = 60.0
PARAGRAPH_PAUSE_S = 2.0
PARAGRAPH_S = 45.0
_SENTENCE_ENDS = (".", "!", "?", "…", "。", "？", "！")

Segment = Mapping[str, Any]


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def _lines(words: Sequence[str]) -> list[str]:
    """Words filled greedily into lines of at most ``LINE_CHARS`` characters (a longer word has a line alone)."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= LINE_CHARS:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _pieces(words: Sequence[str], start: float, end: float) -> list[Cue]:
    """One segment's words as cues within [start, end], split until each fits the size and time limits."""
    lines = _lines(words)
    if len(words) > 1 and (len(lines) > MAX_LINES or end - start > MAX_CUE_S):
        # split where the characters are halved, and time each half by its share of them
        total = sum(len(w) + 1 for w in words)
        count, cut = 0, 1
        for index, word in enumerate(words[:-1], 1):
            count += len(word) + 1
            cut = index
            if count >= total / 2:
                break
        middle = start + (end - start) * count / total
        return _pieces(words[:cut], start, middle) + _pieces(words[cut:], middle, end)
    return [Cue(start, min(end, start + MAX_CUE_S), tuple(lines))]


def cues(segments: Iterable[Segment]) -> list[Cue]:
    """The cues of a note, in order and never overlapping."""
    made: list[Cue] = []
    for segment in segments:
        words = str(segment["text"]).split()
        if not words:
            continue
        start, end = float(segment["start"]), float(segment["end"])
        for cue in _pieces(words, start, max(end, start + 0.1)):
            begin = max(cue.start, made[-1].end if made else 0.0)
            made.append(Cue(begin, max(cue.end, begin + 0.1), cue.lines))
    return made


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(segments: Iterable[Segment]) -> str:
    """SubRip: numbered cues, ``hh:mm:ss,mmm`` times."""
    blocks = [
        f"{number}\n{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}\n" + "\n".join(cue.lines)
        for number, cue in enumerate(cues(segments), 1)
    ]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(segments: Iterable[Segment]) -> str:
    """WebVTT: the header, then cues with ``hh:mm:ss.mmm`` times."""
    blocks = [f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n" + "\n".join(c.lines) for c in cues(segments)]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")


def mark(seconds: float) -> str:
    """``[mm:ss]``, or ``[h:mm:ss]`` from an hour on."""
    whole = max(0, math.floor(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"


def paragraphs(segments: Iterable[Segment]) -> list[tuple[float, str]]:
    """(start, text) of each paragraph: segments joined until a pause, or a sentence end after a while."""
    found: list[tuple[float, list[str]]] = []
    last_end: float | None = None
    for segment in segments:
        text = str(segment["text"]).strip()
        if not text:
            continue
        start, end = float(segment["start"]), float(segment["end"])
        if not found or last_end is None:
            new = True
        else:
            paused = start - last_end >= PARAGRAPH_PAUSE_S
            long_enough = start - found[-1][0] >= PARAGRAPH_S and found[-1][1][-1].endswith(_SENTENCE_ENDS)
            new = paused or long_enough or start - found[-1][0] >= 2 * PARAGRAPH_S
        if new:
            found.append((start, [text]))
        else:
            found[-1][1].append(text)
        last_end = end
    return [(start, " ".join(texts)) for start, texts in found]


def timestamped(segments: Sequence[Segment], text: str, duration_s: float) -> str:
    """What a user reads: ``text`` as it is for a note up to ``TIMESTAMPS_AFTER_S``; for a longer one, its
    paragraphs each opened by a ``[mm:ss]`` mark (``text`` again when there are no segments)."""
    if duration_s <= TIMESTAMPS_AFTER_S or not segments:
        return text
    return "\n\n".join(f"{mark(start)} {body}" for start, body in paragraphs(segments))
