"""Inference engines: every denoiser takes and returns 16 kHz mono float32 audio of the same length."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Protocol

import numpy as np
import soxr
import torch
from torch import nn

from ml.audio import SAMPLE_RATE

Progress = Callable[[float], None]


class Denoiser(Protocol):
    """A loaded denoiser version."""

    version: str

    def __call__(self, audio: np.ndarray, progress: Progress | None = None) -> np.ndarray: ...


class PassThrough:
    """The ``none`` version: audio goes through untouched."""

    def __init__(self, version: str = "none") -> None:
        self.version = version

    def __call__(self, audio: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        return audio


class RNNoiseDenoiser:
    """RNNoise (Valin, 2018) through ``pyrnnoise``'s bundled library: 48 kHz, 10 ms frames.

    Streams one second at a time through the resamplers and the network, so memory stays at the size
    of the input and output whatever the note's length.
    """

    BLOCK = SAMPLE_RATE  # input samples per step

    def __init__(self, version: str = "rnnoise") -> None:
        from pyrnnoise import rnnoise

        self.version = version
        self._lib = rnnoise.lib
        self._frame = rnnoise.FRAME_SIZE
        self._rate = rnnoise.SAMPLE_RATE
        self._delay = 2 * self._frame * SAMPLE_RATE // self._rate  # output lags input by two frames

    def __call__(self, audio: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        up = soxr.ResampleStream(SAMPLE_RATE, self._rate, 1, dtype="float32")
        down = soxr.ResampleStream(self._rate, SAMPLE_RATE, 1, dtype="float32")
        out = np.zeros(audio.size + self._delay, dtype=np.float32)
        written = 0
        pending = np.zeros(0, dtype=np.float32)
        pointer = ctypes.POINTER(ctypes.c_float)
        state = self._lib.rnnoise_create(None)
        padded = np.concatenate([audio, np.zeros(self._delay + self.BLOCK // 10, dtype=np.float32)])
        try:
            for start in range(0, padded.size, self.BLOCK):
                last = start + self.BLOCK >= padded.size
                pending = np.concatenate([pending, up.resample_chunk(padded[start : start + self.BLOCK], last=last)])
                usable = pending.size - pending.size % self._frame if not last else pending.size
                frames = np.pad(pending[:usable], (0, (-usable) % self._frame)) * 32767.0
                frames = np.ascontiguousarray(frames.reshape(-1, self._frame), dtype=np.float32)
                pending = pending[usable:]
                for row in frames:
                    ptr = row.ctypes.data_as(pointer)
                    self._lib.rnnoise_process_frame(state, ptr, ptr)
                clean = down.resample_chunk(frames.reshape(-1) / 32767.0, last=last)
                take = min(clean.size, out.size - written)
                out[written : written + take] = clean[:take]
                written += take
                if progress is not None:
                    progress(min(1.0, (start + self.BLOCK) / padded.size))
        finally:
            self._lib.rnnoise_destroy(state)
        return out[self._delay : self._delay + audio.size]


class TorchDenoiser:
    """A waveform network run over overlapping chunks with a linear cross-fade.

    Every network in ``ml.models`` exposes ``enhance_normalized(x)`` for input already at unit std.

    The input is scaled once by its global standard deviation, so chunks share one gain, and memory
    stays bounded by the chunk size however long the note is. ``dry`` mixes part of the input back in.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        version: str,
        chunk_s: float = 10.0,
        overlap_s: float = 0.5,
        dry: float = 0.0,
        floor: float = 1e-3,
    ) -> None:
        if not 0.0 <= dry <= 1.0:
            raise ValueError("dry must be within [0, 1]")
        if overlap_s * 2 >= chunk_s:
            raise ValueError("overlap must be less than half the chunk")
        self.model = model.eval()
        self.version = version
        self.chunk = int(chunk_s * SAMPLE_RATE)
        self.overlap = int(overlap_s * SAMPLE_RATE)
        self.dry = dry
        self.floor = floor

    def _run(self, x: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(x).view(1, 1, -1)
        return self.model.enhance_normalized(tensor).reshape(-1).numpy()

    @torch.inference_mode()
    def __call__(self, audio: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        std = float(audio.std()) + self.floor
        x = (audio / std).astype(np.float32)
        if x.size <= self.chunk:
            out = self._run(x)
        else:
            out = np.zeros_like(x)
            hop = self.chunk - self.overlap
            fade_in = np.linspace(0.0, 1.0, self.overlap, dtype=np.float32)
            starts = range(0, x.size - self.overlap, hop)
            for count, start in enumerate(starts):
                piece = self._run(x[start : start + self.chunk])
                if start > 0:
                    piece[: self.overlap] *= fade_in
                    out[start : start + self.overlap] *= 1.0 - fade_in
                out[start : start + piece.size] += piece
                if progress is not None:
                    progress((count + 1) / len(starts))
        clean = out * std
        if self.dry:
            clean = (1.0 - self.dry) * clean + self.dry * audio
        return clean.astype(np.float32, copy=False)
