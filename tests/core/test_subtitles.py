"""Subtitles and timestamped text from segments: cue limits, times, formats, paragraphs."""

from __future__ import annotations

import itertools
import re

from core.subtitles import LINE_CHARS, MAX_CUE_S, cues, mark, paragraphs, timestamped, to_srt, to_vtt

LONG = (
    "this is a rather long sentence that Whisper gave as one segment because the speaker did not pause "
    "anywhere at all while talking about the weather and the trains"
)


def test_cues_keep_the_limits_and_cover_the_segment() -> None:
    made = cues([{"start": 1.0, "end": 16.0, "text": LONG}])
    assert len(made) >= 3
    assert made[0].start == 1.0 and abs(made[-1].end - 16.0) < 1e-6
    for cue in made:
        assert cue.end - cue.start <= MAX_CUE_S + 1e-9
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= LINE_CHARS for line in cue.lines)
    for before, after in itertools.pairwise(made):
        assert before.end <= after.start + 1e-9
    assert " ".join(" ".join(c.lines) for c in made) == LONG


def test_overlapping_segments_do_not_overlap_as_cues() -> None:
    made = cues([{"start": 0.0, "end": 3.0, "text": "one two"}, {"start": 2.5, "end": 4.0, "text": "three"}])
    assert made[1].start >= made[0].end


def test_srt_and_vtt_formats() -> None:
    segments = [{"start": 0.5, "end": 2.25, "text": " Hello there."}, {"start": 3661.0, "end": 3662.0, "text": "Bye"}]
    srt = to_srt(segments)
    assert srt.startswith("1\n00:00:00,500 --> 00:00:02,250\nHello there.\n\n2\n01:01:01,000 --> 01:01:02,000\nBye")
    vtt = to_vtt(segments)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHello there.")
    assert len(re.findall(r"-->", vtt)) == 2
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n\n"


def test_marks_and_paragraphs() -> None:
    assert mark(5.9) == "[00:05]" and mark(125) == "[02:05]" and mark(3725) == "[1:02:05]"
    segments = [
        {"start": 0.0, "end": 4.0, "text": "First part."},
        {"start": 4.2, "end": 8.0, "text": "Still first."},
        {"start": 12.0, "end": 15.0, "text": "After a pause."},
    ]
    assert paragraphs(segments) == [(0.0, "First part. Still first."), (12.0, "After a pause.")]
    text = "First part. Still first. After a pause."
    assert timestamped(segments, text, duration_s=30.0) == text  # short notes stay plain
    assert timestamped(segments, text, duration_s=70.0) == "[00:00] First part. Still first.\n\n[00:12] After a pause."
