"""Augmentations for training mixtures (NumPy, mono float32): reverb, band-limiting, babble, cropping."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal

from ml.data.synth import SAMPLE_RATE, rms


def crop_or_pad(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n``-sample window of ``x``; a shorter ``x`` is placed at a random offset in silence."""
    if x.size >= n:
        start = int(rng.integers(0, x.size - n + 1))
        return x[start : start + n].copy()
    out = np.zeros(n, dtype=np.float32)
    start = int(rng.integers(0, n - x.size + 1))
    out[start : start + x.size] = x
    return out


def synthetic_rir(
    rng: np.random.Generator,
    *,
    rt60_s: tuple[float, float] = (0.2, 0.8),
    drr_db: tuple[float, float] = (0.0, 12.0),
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """A room response: a unit direct path, then exponentially decaying noise (RT60 and direct-to-reverberant
    ratio drawn from the given ranges) starting 1-5 ms later and darkening with time."""
    rt60 = rng.uniform(*rt60_s)
    n = int(min(rt60, 1.0) * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)  # amplitude falls 60 dB at rt60
    tail = signal.sosfilt(signal.butter(1, rng.uniform(2000, 7000), fs=sample_rate, output="sos"), tail)
    tail[: int(rng.uniform(0.001, 0.005) * sample_rate)] = 0.0
    tail *= 10 ** (-rng.uniform(*drr_db) / 20) / np.sqrt(np.sum(tail**2) + 1e-12)
    tail[0] = 1.0  # direct path
    return tail.astype(np.float32)


def reverberate(speech: np.ndarray, rir: np.ndarray, *, early_ms: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """(reverberant speech, speech with only the direct path and early reflections), both ``speech``'s length.

    The early part is the training target: the network learns to remove the late tail but not the room.
    """
    n = speech.size
    early = int(early_ms * SAMPLE_RATE / 1000)
    wet = signal.fftconvolve(speech, rir)[:n]
    dry = signal.fftconvolve(speech, rir[:early])[:n]
    return wet.astype(np.float32), dry.astype(np.float32)


def band_filter(rng: np.random.Generator, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Second-order sections of a random channel: a telephone band (≈300-3400 Hz) or a wideband low-pass."""
    if rng.random() < 0.5:
        low, high = rng.uniform(200, 400), rng.uniform(3000, 4000)
        return signal.butter(4, [low, high], btype="bandpass", fs=sample_rate, output="sos")
    return signal.butter(6, rng.uniform(4000, 7500), btype="lowpass", fs=sample_rate, output="sos")


def apply_filter(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Filter ``x`` with second-order sections (causal; the same filter on speech and noise)."""
    return signal.sosfilt(sos, x).astype(np.float32)


def babble(
    rng: np.random.Generator,
    speech: Sequence[np.ndarray],
    n: int,
    *,
    speakers: tuple[int, int] = (3, 7),
    exclude: int | None = None,
) -> np.ndarray:
    """Several utterances from ``speech`` (never the one at ``exclude``) talking at once, unit RMS."""
    choices = [i for i in range(len(speech)) if i != exclude]
    count = min(int(rng.integers(speakers[0], speakers[1] + 1)), len(choices))
    out = np.zeros(n, dtype=np.float32)
    for index in rng.choice(choices, size=count, replace=False):
        voice = crop_or_pad(speech[index], n, rng)
        out += voice * (10 ** (rng.uniform(-6, 0) / 20) / rms(voice))
    return out / rms(out)


def opus_round_trip(x: np.ndarray, rng: np.random.Generator, kbps: tuple[float, float] = (16.0, 32.0)) -> np.ndarray:
    """``x`` as it comes back from an Opus voice note coded at a random bit rate in ``kbps`` (same length).

    Voice notes reach the bot as 48-kHz Opus at low bit rates; the codec's artefacts are part of the noisy input."""
    from ml.data.codec import opus_coded

    bitrate = int(rng.uniform(*kbps) * 1000)
    peak = float(np.abs(x).max())
    scale = 0.9 / peak if peak > 0.9 else 1.0  # the codec clips at full scale
    return opus_coded(x * scale, bitrate) / scale
