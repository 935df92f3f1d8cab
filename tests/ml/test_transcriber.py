"""Whisper on real speech, and long notes transcribed in windows cut in pauses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml.loader import ModelCache
from ml.registry import Registry
from ml.transcriber import SAMPLE_RATE, windows
from ml.wer import wer
from testkit.speech import dev_speech


def test_windows_cover_the_audio_and_cut_in_pauses() -> None:
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(SAMPLE_RATE * 700).astype(np.float32)
    pause = SAMPLE_RATE * 290
    audio[pause : pause + SAMPLE_RATE // 2] = 0.0  # the only quiet half-second near the first boundary
    bounds = windows(audio, window_s=300)
    assert bounds[0][0] == 0 and bounds[-1][1] == audio.size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
    assert all(end - start <= 300 * SAMPLE_RATE for start, end in bounds)
    assert pause <= bounds[0][1] <= pause + SAMPLE_RATE // 2


def test_short_audio_is_one_window() -> None:
    assert windows(np.zeros(SAMPLE_RATE * 10, dtype=np.float32)) == [(0, SAMPLE_RATE * 10)]


@pytest.mark.parametrize("window_s", [None, 12.0])
def test_windowed_transcript_matches_whole(shared, monkeypatch: pytest.MonkeyPatch, tmp_path, window_s) -> None:
    import ml.transcriber

    if window_s is not None:
        monkeypatch.setattr(ml.transcriber, "WINDOW_S", window_s)
    audio, reference = dev_speech(30.0)
    transcriber = ModelCache(Registry(cache_dir=tmp_path.parent / "model-cache")).transcriber("tiny.en")
    heard: list[int] = []
    model_transcribe = transcriber.model.transcribe

    def spy(piece, **kwargs):
        heard.append(piece.size)
        return model_transcribe(piece, **kwargs)

    monkeypatch.setattr(transcriber.model, "transcribe", spy)
    transcript = transcriber.transcribe(audio)
    assert wer(reference, transcript.text) < 0.3
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end <= audio.size / SAMPLE_RATE + 1
    assert transcript.segments[-1].end > audio.size / SAMPLE_RATE - 3  # timestamps continue across windows
    if window_s is None:
        assert heard == [audio.size]
    else:  # Whisper really was given one window at a time, together the whole note
        assert len(heard) >= 3 and max(heard) <= window_s * SAMPLE_RATE and sum(heard) == audio.size


@pytest.mark.slow
def test_a_15_minute_note_is_transcribed_to_its_end(shared, tmp_path) -> None:
    """Three 5-minute windows (two seams): every part of a 15-minute note of known speech is in the transcript."""
    speech, reference = dev_speech(300.0)  # every dev utterance once (about 5 minutes), then three times over
    minutes = 3
    note = np.tile(speech, minutes)
    transcriber = ModelCache(Registry(cache_dir=tmp_path.parent / "model-cache")).transcriber("tiny.en")
    transcript = transcriber.transcribe(note, language="en")
    duration = note.size / SAMPLE_RATE
    assert duration > 14 * 60
    assert wer(" ".join([reference] * minutes), transcript.text) < 0.3
    for k in range(minutes):  # each repetition's share of segments, not one window transcribed twice
        part = [s for s in transcript.segments if k * duration / minutes <= s.start < (k + 1) * duration / minutes]
        assert wer(reference, " ".join(s.text for s in part)) < 0.35
    assert transcript.segments[-1].end > duration - 15


def test_without_fallback_whisper_decodes_at_temperature_zero_only(shared, tmp_path) -> None:
    audio, reference = dev_speech(10.0)
    transcriber = ModelCache(Registry(cache_dir=tmp_path.parent / "model-cache")).transcriber("tiny.en")
    model_transcribe = transcriber.model.transcribe
    temperatures = []

    def spy(*args, **kwargs):
        temperatures.append(kwargs["temperature"])
        return model_transcribe(*args, **kwargs)

    transcriber.model.transcribe = spy
    assert wer(reference, transcriber.transcribe(audio, fallback=False).text) < 0.3
    transcriber.transcribe(audio)
    assert temperatures == [0.0, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
