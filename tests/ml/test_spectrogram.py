"""Spectrogram pictures: a valid PNG of the asked size, and they show where the sound is."""

from __future__ import annotations

import zlib

import numpy as np

from ml.audio import encode_voice
from ml.spectrogram import GAP_PX, spectrogram_rgb, spectrograms_png


def test_a_tone_lights_its_row_and_silence_stays_dark() -> None:
    t = np.arange(32_000) / 16_000
    audio = np.where(t < 1.0, 0.3 * np.sin(2 * np.pi * 2000 * t), 0.0).astype(np.float32)
    picture = spectrogram_rgb(encode_voice(audio), width=200, height=100).astype(int).sum(axis=2)
    row = 100 - 1 - round(2000 / 8000 * 99)  # 2 kHz, low frequencies at the bottom
    assert picture[row - 2 : row + 3, 20:80].max() > 3 * np.median(picture[:, 20:80])
    assert picture[:, 130:190].mean() < picture[:, 20:80].mean() / 3  # the silent second


def test_stacked_png_is_well_formed() -> None:
    audio = (0.1 * np.random.default_rng(0).standard_normal(16_000)).astype(np.float32)
    data = spectrograms_png([encode_voice(audio)] * 2, width=120, height=50)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (120, 2 * 50 + GAP_PX)
    idat = data.index(b"IDAT")
    size = int.from_bytes(data[idat - 4 : idat], "big")
    assert len(zlib.decompress(data[idat + 4 : idat + 4 + size])) == height * (1 + 3 * width)
