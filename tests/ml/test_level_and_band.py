"""What every user gets back, through the real pipeline: quiet notes are transcribed, silence is not invented
into text, the voice comes back full band at speech loudness, and a 16-kHz recording is not made worse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.audio import FULL_BAND_RATE, decode_audio, encode_voice, write_wav
from ml.denoisers import enhance
from ml.errors import NoSpeech
from ml.loader import ModelCache
from ml.loudness import TARGET_LUFS, integrated_lufs, true_peak_dbtp
from ml.pipeline import Pipeline, PipelineOptions
from ml.registry import Registry
from ml.wer import wer
from testkit.measures import band_energy_db, si_sdr
from testkit.speech import dev_speech, full_band_note, noisy_speech


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    models = ModelCache(Registry(cache_dir=tmp_path_factory.getbasetemp() / "model-cache"), threads=2)
    return Pipeline(models.denoiser("deepfilternet3"), models.transcriber("tiny.en"))


def at_rms_dbfs(audio: np.ndarray, level_db: float) -> np.ndarray:
    return (audio * 10 ** (level_db / 20) / np.sqrt(np.mean(audio**2))).astype(np.float32)


def test_a_note_at_minus_65_dbfs_is_transcribed_and_comes_back_audible(pipeline: Pipeline, tmp_path: Path) -> None:
    speech, reference = dev_speech(8.0)
    path = tmp_path / "quiet.wav"
    write_wav(path, at_rms_dbfs(speech, -65.0), 16_000)  # 16-bit PCM: the quietest samples are a few LSB
    result = pipeline.process(path, PipelineOptions(language="en"))
    assert wer(reference, result.transcript.text) < 0.35, result.transcript.text
    voice = decode_audio(result.voice_ogg, sample_rate=FULL_BAND_RATE)
    assert abs(integrated_lufs(voice, FULL_BAND_RATE) - TARGET_LUFS) < 1.5
    assert true_peak_dbtp(voice, FULL_BAND_RATE) <= -1.0
    assert result.loudness["input_lufs"] < -60 and abs(result.loudness["output_lufs"] - TARGET_LUFS) < 1.0


def tpdf_dither(samples: int, lsb: float) -> np.ndarray:
    rng = np.random.default_rng(5)
    return ((rng.uniform(-0.5, 0.5, samples) + rng.uniform(-0.5, 0.5, samples)) * lsb).astype(np.float32)


@pytest.mark.parametrize(
    "audio",
    [
        np.zeros(16_000 * 4, np.float32),  # digital silence
        tpdf_dither(16_000 * 4, 1 / 32768),  # 16-bit dither only
        tpdf_dither(16_000 * 4, 1 / 128),  # 8-bit dither: about −50 dBFS of hiss, loud enough to be measured
    ],
    ids=["silence", "dither-16bit", "dither-8bit"],
)
def test_silence_and_dither_get_no_speech_and_no_invented_text(pipeline: Pipeline, audio: np.ndarray) -> None:
    with pytest.raises(NoSpeech):
        pipeline.process(encode_voice(audio), PipelineOptions(language="en"))


def test_the_voice_comes_back_full_band(pipeline: Pipeline, tmp_path: Path) -> None:
    note = full_band_note()
    path = tmp_path / "full_band.wav"
    write_wav(path, note, FULL_BAND_RATE)
    before = band_energy_db(note, FULL_BAND_RATE, 9_000, 16_000)

    untouched = pipeline.process(path, PipelineOptions(limit_db=0.0, language="en"))
    voice = decode_audio(untouched.voice_ogg, sample_rate=FULL_BAND_RATE)
    assert abs(band_energy_db(voice, FULL_BAND_RATE, 9_000, 16_000) - before) < 3.0  # not cut at 8 kHz

    gentle = pipeline.process(path, PipelineOptions(limit_db=20.0, language="en"))
    voice = decode_audio(gentle.voice_ogg, sample_rate=FULL_BAND_RATE)
    # DeepFilterNet3 at 48 kHz takes the hiss down by at most 20 dB: it is still there above 8 kHz
    assert band_energy_db(voice, FULL_BAND_RATE, 9_000, 16_000) > before - 25.0


def test_a_16khz_recording_is_not_made_worse(pipeline: Pipeline, tmp_path: Path) -> None:
    noisy, _, clean = noisy_speech(8.0, snr_db=5.0)
    path = tmp_path / "narrow.wav"
    write_wav(path, noisy, 16_000)
    result = pipeline.process(path, PipelineOptions(language="en"))
    voice = decode_audio(result.voice_ogg, sample_rate=FULL_BAND_RATE)
    # nothing invented above its band: what is there (about −40 dB) is the Opus coder's and the limiter's trace
    assert band_energy_db(voice, FULL_BAND_RATE, 8_500, 24_000) < -35.0

    # as good as DeepFilterNet3 run on the 16-kHz samples directly (16 → 48 → 16 kHz), both sent as Opus, and
    # better than the noisy note sent as Opus
    def through_opus(audio: np.ndarray) -> np.ndarray:
        return decode_audio(encode_voice(audio))[: clean.size]

    direct = enhance(pipeline.denoiser, noisy, 16_000)
    ours = si_sdr(clean, decode_audio(result.voice_ogg)[: clean.size])
    assert ours > si_sdr(clean, through_opus(direct)) - 0.5
    assert ours > si_sdr(clean, through_opus(noisy)) + 1.0
