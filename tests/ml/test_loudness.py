"""Even loudness: BS.1770 loudness to −16 LUFS, peaks held under −1 dBTP, silence left alone."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.audio import FULL_BAND_RATE, resample
from ml.loudness import TARGET_LUFS, integrated_lufs, limit_peaks, normalize_voice, true_peak_dbtp
from testkit.speech import dev_speech


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    audio, _ = dev_speech(8.0)
    return resample(audio, 16_000, FULL_BAND_RATE)


@pytest.mark.parametrize("level_db", [-50.0, -20.0, 0.0])
def test_quiet_and_loud_speech_come_out_at_speech_loudness(speech: np.ndarray, level_db: float) -> None:
    scaled = (speech / np.abs(speech).max() * 10 ** (level_db / 20)).astype(np.float32)
    out, loudness = normalize_voice(scaled, FULL_BAND_RATE)
    assert loudness == pytest.approx(integrated_lufs(out, FULL_BAND_RATE))
    assert abs(loudness - TARGET_LUFS) < 1.0, loudness
    assert true_peak_dbtp(out, FULL_BAND_RATE) <= -1.0


def test_limiter_holds_every_peak_and_leaves_the_rest() -> None:
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(FULL_BAND_RATE * 12)).astype(np.float32)
    clicks = rng.integers(0, audio.size, 50)
    audio[clicks] = 1.5  # 50 clicks far over full scale, one at a block edge too
    audio[10 * FULL_BAND_RATE] = -2.0
    out = limit_peaks(audio, FULL_BAND_RATE, ceiling_db=-3.0)
    assert np.abs(out).max() <= 10 ** (-3 / 20) + 1e-6
    quiet = np.ones(audio.size, bool)
    for click in [*clicks, 10 * FULL_BAND_RATE]:
        quiet[max(0, click - 600) : click + 600] = False
    np.testing.assert_allclose(out[quiet], audio[quiet], atol=1e-6)  # away from the clicks: untouched


def test_silence_is_left_silent() -> None:
    silence = np.zeros(FULL_BAND_RATE, np.float32)
    out, loudness = normalize_voice(silence, FULL_BAND_RATE)
    assert math.isinf(loudness) and not out.any()


def test_the_meter_agrees_with_pyloudnorm(speech: np.ndarray) -> None:
    import pyloudnorm

    note = np.concatenate([speech, np.zeros(FULL_BAND_RATE * 3, np.float32), 0.1 * speech])
    for rate, audio in ((FULL_BAND_RATE, note), (16_000, resample(note, FULL_BAND_RATE, 16_000))):
        expected = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
        assert integrated_lufs(audio, rate) == pytest.approx(expected, abs=1e-6)


def test_a_note_under_the_absolute_gate_can_still_be_brought_up(speech: np.ndarray) -> None:
    whisper = (speech * 10 ** (-70 / 20)).astype(np.float32)  # about −90 LUFS
    assert math.isinf(integrated_lufs(whisper, FULL_BAND_RATE))
    assert -95 < integrated_lufs(whisper, FULL_BAND_RATE, below_gate=True) < -85
