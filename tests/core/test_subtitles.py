"""Subtitles from segments: cue limits, SRT and VTT layout, [mm:ss] timestamps."""

from __future__ import annotations

from core.subtitles import MAX_CUE_S, MAX_LINE, MAX_LINES, clock, cues, timestamped_text, to_srt, to_vtt

SEGMENTS = [
    {"start": 0.0, "end": 2.5, "text": " Hello there."},
    {"start": 2.5, "end": 21.0, "text": " " + " ".join(["word"] * 60)},  # long: several cues
    {"start": 3601.2, "end": 3603.0, "text": "Late."},
]


def test_cues_keep_to_seven_seconds_and_two_lines_of_42() -> None:
    made = cues(SEGMENTS)
    assert len(made) > 3
    for cue in made:
        assert cue.end - cue.start <= MAX_CUE_S + 1e-9
        assert 1 <= len(cue.lines) <= MAX_LINES and all(len(line) <= MAX_LINE for line in cue.lines)
    assert [c.start for c in made] == sorted(c.start for c in made)
    words = " ".join(line for c in made for line in c.lines).split()
    assert words == " ".join(s["text"] for s in SEGMENTS).split()  # nothing lost, nothing added


def test_srt_and_vtt_layout() -> None:
    srt = to_srt(SEGMENTS[:1])
    assert srt == "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n"
    vtt = to_vtt(SEGMENTS[:1])
    assert vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n"
    assert "01:00:01,200 --> 01:00:03,000" in to_srt(SEGMENTS)
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n\n"


def test_timestamps() -> None:
    assert clock(0) == "[00:00]" and clock(75.9) == "[01:15]" and clock(3725) == "[1:02:05]"
    assert timestamped_text(SEGMENTS[:1]) == "[00:00] Hello there.\n"
