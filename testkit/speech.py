"""Noisy voice notes made from the shared dev speech and noise: real speech, known transcripts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from ml.audio import FULL_BAND_RATE, SAMPLE_RATE, decode_audio, resample
from ml.data.synth import mix_at_snr
from ml.paths import default_shared, dev_transcripts

DEV_NOISE = "kitchen/kitchen_15081206.flac"


@cache
def _utterance(name: str) -> np.ndarray:
    return decode_audio(default_shared() / "data" / "speech" / "dev" / name)


def dev_speech(seconds: float, speaker: str = "1688") -> tuple[np.ndarray, str]:
    """Whole dev utterances of one speaker joined (0.3 s gaps) until ``seconds`` is reached; audio and text."""
    transcripts = dev_transcripts()
    # the speaker's utterances first, then the other speakers' when more audio is needed
    names = sorted(transcripts, key=lambda n: (not n.startswith(speaker), n))
    pieces, texts, total = [], [], 0
    gap = np.zeros(int(0.3 * SAMPLE_RATE), dtype=np.float32)
    for name in names:
        if total >= seconds * SAMPLE_RATE:
            break
        audio = _utterance(name)
        pieces += [audio, gap]
        texts.append(transcripts[name])
        total += audio.size + gap.size
    return np.concatenate(pieces), " ".join(texts)


def dev_noise(n: int) -> np.ndarray:
    """A held-out real noise recording, cropped or tiled to ``n`` samples."""
    noise = decode_audio(default_shared() / "data" / "noise" / "dev" / DEV_NOISE)
    return np.resize(noise, n)


def noisy_speech(seconds: float, snr_db: float = 5.0) -> tuple[np.ndarray, str, np.ndarray]:
    """(noisy, reference text, clean) for about ``seconds`` of dev speech."""
    clean, text = dev_speech(seconds)
    return mix_at_snr(clean, dev_noise(clean.size), snr_db), text, clean


def full_band_note() -> np.ndarray:
    """Dev speech with a breath of air from 9 to 16 kHz, at 48 kHz."""
    from scipy.signal import butter, sosfilt  # only here: the benchmarks importing this module do without scipy

    speech, _ = dev_speech(6.0)
    speech = resample(speech, 16_000, FULL_BAND_RATE)
    sos = butter(6, [9_000, 16_000], btype="bandpass", fs=FULL_BAND_RATE, output="sos")
    air = sosfilt(sos, np.random.default_rng(2).standard_normal(speech.size)).astype(np.float32)
    air *= 0.1 * np.sqrt(np.mean(speech**2) / np.mean(air**2))
    return speech + air


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
