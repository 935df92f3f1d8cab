"""Measures the audio tests assert on: scale-invariant SDR and a frequency band's share of the energy."""

from __future__ import annotations

import numpy as np


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB, both signals zero-mean (a denoiser may take away a recording's DC offset)."""
    reference, estimate = reference - reference.mean(), estimate - estimate.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return float(10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2)))


def band_energy_db(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    """The energy between ``low`` and ``high`` Hz relative to the whole signal's, in dB."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / rate)
    return float(10 * np.log10(power[(freqs >= low) & (freqs < high)].sum() / power.sum()))
