"""Spectrogram pictures (PNG) of notes, with NumPy and zlib only: the worker image carries no plotting library."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ml.audio import SAMPLE_RATE, decode_blocks

N_FFT = 512  # 32 ms at 16 kHz: rows are 31.25-Hz bins up to 8 kHz
HOP = 256
FLOOR_DB = -90.0  # below the loudest bin of each picture: black
GAP_PX = 6
# a dark-to-bright ramp (black, indigo, magenta, orange, pale yellow), like the usual "magma" maps
_ANCHORS = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]])


def _power_columns(source: str | Path | bytes, width: int) -> np.ndarray:
    """(N_FFT // 2 + 1, columns) power per frequency bin and time column, the note read a block at a time: frames
    every ``HOP`` samples, averaged in pairs whenever more than ``4 * width`` columns pile up, so a long note needs
    no more memory than a short one."""
    window = np.hanning(N_FFT).astype(np.float32)
    bins = N_FFT // 2 + 1
    carry = np.zeros(0, dtype=np.float32)  # samples not yet framed
    unpooled = np.zeros((0, bins), dtype=np.float32)  # frames not yet averaged into a column
    columns = np.zeros((0, bins), dtype=np.float32)
    factor = 1  # frames per column
    for block in decode_blocks(source, sample_rate=SAMPLE_RATE):
        samples = np.concatenate([carry, block])
        count = (samples.size - N_FFT) // HOP + 1 if samples.size >= N_FFT else 0
        frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP][:count]
        carry = samples[count * HOP :]
        power = (np.abs(np.fft.rfft(frames * window, axis=1)) ** 2).astype(np.float32)
        unpooled = np.concatenate([unpooled, power])
        usable = unpooled.shape[0] // factor * factor
        columns = np.concatenate([columns, unpooled[:usable].reshape(-1, factor, bins).mean(axis=1)])
        unpooled = unpooled[usable:]
        while columns.shape[0] >= 4 * width:
            even = columns.shape[0] // 2 * 2
            columns = np.concatenate([columns[:even].reshape(-1, 2, bins).mean(axis=1), columns[even:]])
            factor *= 2
    if unpooled.shape[0]:
        columns = np.concatenate([columns, unpooled.mean(axis=0, keepdims=True)])
    if not columns.shape[0]:  # shorter than one frame
        columns = (np.abs(np.fft.rfft(np.pad(carry, (0, N_FFT - carry.size)) * window)) ** 2)[None, :]
    return columns.T


def _colours(levels: np.ndarray) -> np.ndarray:
    """Levels in [0, 1] → RGB bytes along the ramp."""
    position = np.clip(levels, 0.0, 1.0) * (len(_ANCHORS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (position - low)[..., None]
    return (_ANCHORS[low] * (1 - frac) + _ANCHORS[low + 1] * frac).round().astype(np.uint8)


def png(rgb: np.ndarray) -> bytes:
    """An (height, width, 3) uint8 array as a PNG file."""
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def spectrogram_rgb(source: str | Path | bytes, *, width: int = 800, height: int = 160) -> np.ndarray:
    """One note's spectrogram, 0–8 kHz (low frequencies at the bottom), time left to right, in dB from the loudest
    bin down to ``FLOOR_DB``: an (height, width, 3) uint8 picture. Raises ``ml.errors.AudioError`` on bad input."""
    power = _power_columns(source, width)
    db = 10.0 * np.log10(power + 1e-12)
    levels = (db - (db.max() + FLOOR_DB)) / -FLOOR_DB
    rows = np.linspace(0, levels.shape[0] - 1, height).round().astype(int)[::-1]
    cols = np.linspace(0, levels.shape[1] - 1, width).round().astype(int)
    return _colours(levels[np.ix_(rows, cols)])


def spectrograms_png(sources: Sequence[str | Path | bytes], *, width: int = 800, height: int = 160) -> bytes:
    """Spectrograms of several notes (before and after cleaning) stacked top to bottom in one PNG, each scaled to
    its own loudest bin, separated by a white gap."""
    pictures = [spectrogram_rgb(source, width=width, height=height) for source in sources]
    gap = np.full((GAP_PX, width, 3), 255, dtype=np.uint8)
    stacked: list[np.ndarray] = []
    for picture in pictures:
        stacked += [gap, picture] if stacked else [picture]
    return png(np.concatenate(stacked))
