"""Which audio Whisper hears: every transcription strategy through the real pipeline (RNNoise, Whisper)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ml.audio import FULL_BAND_RATE, SAMPLE_RATE, decode_audio, encode_voice, resample
from ml.denoisers import Denoiser, enhance
from ml.loader import ModelCache
from ml.loudness import TRUE_PEAK_DBTP, WORKING_LUFS, gain_db_to
from ml.pipeline import AUTO_MIX_BELOW_DB, MIX_RATIO, Pipeline, PipelineOptions, level_range_db
from ml.registry import Registry
from ml.spool import Signal, read_all
from ml.strategies import STRATEGIES
from ml.transcriber import Transcriber, Transcript
from ml.wer import wer
from testkit.speech import dev_speech, noisy_speech


class Listening:
    """The real transcriber, noting every audio it is given."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber, self.version, self.heard = transcriber, transcriber.version, []

    def transcribe(self, audio: np.ndarray | Signal, **options: Any) -> Transcript:
        self.heard.append(read_all(audio).copy())  # the pipeline gives a spool, read a window at a time
        return self.transcriber.transcribe(audio, **options)


def what_whisper_may_hear(ogg: bytes, denoiser: Denoiser) -> tuple[np.ndarray, np.ndarray]:
    """The note as the pipeline prepares it for Whisper: (untouched, cleaned), both at the working level, 16 kHz."""
    audio = decode_audio(ogg, sample_rate=FULL_BAND_RATE)
    audio *= np.float32(10 ** (gain_db_to(audio, FULL_BAND_RATE, WORKING_LUFS, TRUE_PEAK_DBTP)[0] / 20))
    clean = enhance(denoiser, audio, FULL_BAND_RATE)
    return resample(audio, FULL_BAND_RATE, SAMPLE_RATE), resample(clean, FULL_BAND_RATE, SAMPLE_RATE)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    return ModelCache(Registry(cache_dir=tmp_path_factory.getbasetemp() / "model-cache"))


@pytest.fixture(scope="module")
def note() -> tuple[bytes, str]:
    noisy, reference, _ = noisy_speech(8.0, snr_db=5.0)
    return encode_voice(noisy), reference


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_hears_what_it_says(models: ModelCache, note: tuple[bytes, str], strategy: str) -> None:
    ogg, reference = note
    denoiser, listening = models.denoiser("rnnoise"), Listening(models.transcriber("tiny.en"))
    options = PipelineOptions(strategy=strategy, language="en")  # type: ignore[arg-type]
    result = Pipeline(denoiser, listening).process(ogg, options)  # type: ignore[arg-type]

    audio, clean = what_whisper_may_hear(ogg, denoiser)
    expected = {
        "original": [audio],
        "denoised": [clean],
        "mix": [(1 - MIX_RATIO) * clean + MIX_RATIO * audio],
        "best": [audio, clean],
        "auto": [(1 - MIX_RATIO) * clean + MIX_RATIO * audio],  # a 5-dB note is a noisy one
    }[strategy]
    assert len(listening.heard) == len(expected)
    for heard, want in zip(listening.heard, expected, strict=True):
        np.testing.assert_allclose(heard, want, atol=1e-6)
    assert result.heard == {"auto": "mix"}.get(strategy, strategy) or (
        strategy == "best" and result.heard in ("original", "denoised")
    )
    assert decode_audio(result.voice_ogg).size == audio.size  # the user gets the cleaned note whatever Whisper heard
    assert wer(reference, result.transcript.text) < 0.5


def test_best_keeps_the_transcript_whisper_is_surer_of(models: ModelCache, note: tuple[bytes, str]) -> None:
    ogg, _ = note
    transcriber = models.transcriber("tiny.en")
    audio, clean = what_whisper_may_hear(ogg, models.denoiser("rnnoise"))
    original = transcriber.transcribe(audio, language="en")
    denoised = transcriber.transcribe(clean, language="en")
    options = PipelineOptions(strategy="best", language="en")
    result = Pipeline(models.denoiser("rnnoise"), transcriber).process(ogg, options)
    surer = "denoised" if denoised.avg_logprob > original.avg_logprob else "original"
    assert result.heard == surer
    assert result.transcript.text == (denoised if surer == "denoised" else original).text


def test_without_denoising_whisper_hears_the_note(models: ModelCache, note: tuple[bytes, str]) -> None:
    ogg, _ = note
    listening = Listening(models.transcriber("tiny.en"))
    options = PipelineOptions(limit_db=0.0, strategy="mix", language="en")  # nothing may be taken away
    result = Pipeline(models.denoiser("rnnoise"), listening).process(ogg, options)  # type: ignore[arg-type]
    assert result.heard == "original" and result.models["denoiser"] == "none"
    np.testing.assert_allclose(listening.heard[0], what_whisper_may_hear(ogg, models.denoiser("none"))[0], atol=1e-6)


def test_auto_lets_whisper_hear_a_clear_note_untouched(models: ModelCache) -> None:
    clean_speech, reference = dev_speech(8.0)
    listening = Listening(models.transcriber("tiny.en"))
    options = PipelineOptions(strategy="auto", language="en")
    result = Pipeline(models.denoiser("rnnoise"), listening).process(encode_voice(clean_speech), options)  # type: ignore[arg-type]
    assert result.heard == "original"
    untouched, _ = what_whisper_may_hear(encode_voice(clean_speech), models.denoiser("rnnoise"))
    np.testing.assert_allclose(listening.heard[0], untouched, atol=1e-6)
    assert wer(reference, result.transcript.text) < 0.3


@pytest.mark.parametrize(("snr_db", "noisy"), [(0.0, True), (5.0, True), (30.0, False)])
def test_level_range_tells_noisy_notes_from_clear_ones(snr_db: float, noisy: bool) -> None:
    audio, _, clean = noisy_speech(10.0, snr_db=snr_db)
    assert (level_range_db(audio) < AUTO_MIX_BELOW_DB) is noisy
    assert level_range_db(clean) > AUTO_MIX_BELOW_DB
    assert level_range_db(np.zeros(100, np.float32)) == float("inf")  # too short to judge: left untouched
