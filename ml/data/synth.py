"""Synthetic noise and mixing helpers (NumPy, 16 kHz mono float32)."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``noise`` so that speech-to-noise power is ``snr_db`` and add it; same length as speech."""
    noise = fit_length(noise, speech.size)
    gain = rms(speech) / (rms(noise) * 10 ** (snr_db / 20))
    return (speech + gain * noise).astype(np.float32)


def fit_length(x: np.ndarray, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Tile or crop (at a random offset when ``rng`` is given) to exactly ``n`` samples."""
    if x.size < n:
        x = np.tile(x, int(np.ceil(n / x.size)))
    start = int(rng.integers(0, x.size - n + 1)) if rng is not None and x.size > n else 0
    return x[start : start + n]


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ∝ 1/f^exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    freqs[0] = freqs[1] if n > 1 else 1.0
    spectrum /= freqs ** (exponent / 2)
    x = np.fft.irfft(spectrum, n)
    return (x / rms(x)).astype(np.float32)


def hum(n: int, rng: np.random.Generator, base_hz: float | None = None) -> np.ndarray:
    """Mains hum: 50 or 60 Hz with a few harmonics of random strength, unit RMS."""
    base = base_hz or float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / SAMPLE_RATE
    x = np.zeros(n)
    for k in range(1, 6):
        x += rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
    return (x / rms(x)).astype(np.float32)


def clicks(n: int, rng: np.random.Generator, rate_hz: float = 4.0) -> np.ndarray:
    """Sparse decaying clicks (keyboard, crackle), unit RMS."""
    x = np.zeros(n, dtype=np.float32)
    count = max(1, rng.poisson(rate_hz * n / SAMPLE_RATE))
    decay = np.exp(-np.arange(160) / rng.uniform(5, 40)).astype(np.float32)
    for pos in rng.integers(0, max(1, n - decay.size), size=count):
        x[pos : pos + decay.size] += rng.uniform(0.2, 1.0) * decay * rng.standard_normal(decay.size)
    return x / rms(x)
