"""Whisper on real speech, and long notes transcribed in windows cut in pauses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml.loader import ModelCache
from ml.registry import Registry
from ml.transcriber import SAMPLE_RATE, windows
from ml.wer import wer
from tests.audio_factory import dev_speech


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
    transcript = transcriber.transcribe(audio)
    assert wer(reference, transcript.text) < 0.3
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts) and transcript.segments[-1].end <= audio.size / SAMPLE_RATE + 1


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
