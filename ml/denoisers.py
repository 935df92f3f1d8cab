"""Inference engines. Each works at its own ``sample_rate`` (mono float32 in, same length out); ``enhance``
runs one on audio at any rate, resampling around it.

``limit_db`` is the noise-removal strength: the most a denoiser may take away, in dB (``None``: no limit).
DeepFilterNet3 applies it inside its per-band gains; the others mix ``10 ** (-limit_db / 20)`` of their input
back in, which leaves the noise at most ``limit_db`` below where it was.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ml.audio import FULL_BAND_RATE, SAMPLE_RATE, resample
from ml.spool import Signal, blocks

if TYPE_CHECKING:  # torch is the ``torch`` extra's: imported only by ``TorchDenoiser``'s methods
    from ml.models.base import Enhancer

Progress = Callable[[float], None]
# A denoiser that cannot stream runs on a long note in pieces this long, each with this much of the note either
# side (its output there is dropped), joined by cross-fades this long (``enhance_stream``).
CHUNK_S = 300.0
CHUNK_MARGIN_S = 5.0
CHUNK_FADE_S = 1.0


class Denoiser(Protocol):
    """A loaded denoiser version, working at ``sample_rate``."""

    version: str
    sample_rate: int

    def __call__(
        self, audio: np.ndarray, progress: Progress | None = None, *, limit_db: float | None = None
    ) -> np.ndarray: ...


def with_floor(noisy: np.ndarray, clean: np.ndarray, limit_db: float | None) -> np.ndarray:
    """``clean`` with enough of ``noisy`` mixed back that no noise is taken down by more than ``limit_db``."""
    if limit_db is None:
        return clean
    dry = 10.0 ** (-limit_db / 20.0)
    return ((1.0 - dry) * clean + dry * noisy).astype(np.float32, copy=False)


def enhance(
    denoiser: Denoiser,
    audio: np.ndarray,
    rate: int,
    *,
    limit_db: float | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Run ``denoiser`` on ``audio`` sampled at ``rate``: resampled to the denoiser's rate and back, so the result
    has ``audio``'s rate and length. A 16-kHz network given 48-kHz audio returns a 16-kHz band (upsampled)."""
    if denoiser.sample_rate == rate:
        return denoiser(audio, progress, limit_db=limit_db)
    converted = resample(audio, rate, denoiser.sample_rate)
    out = resample(denoiser(converted, progress, limit_db=limit_db), denoiser.sample_rate, rate)
    return _fit(out, audio.size)


def _fit(audio: np.ndarray, size: int) -> np.ndarray:
    """Cut or zero-pad to ``size`` samples (resampling round trips can be a sample off)."""
    if audio.size >= size:
        return audio[:size]
    return np.pad(audio, (0, size - audio.size))


def enhance_stream(denoiser: Denoiser, audio: Signal, *, limit_db: float | None = None) -> Iterator[np.ndarray]:
    """``enhance`` on a long note read from ``audio`` (a spool), given back a block at a time, so that neither the
    note nor its cleaned copy is ever held whole.

    A denoiser at the note's rate with a ``stream`` method (DeepFilterNet3, RNNoise, PassThrough) runs over the
    note's blocks and gives the same samples ``enhance`` would. Any other (the 16-kHz networks, which ``enhance``
    resamples around) runs on ``CHUNK_S`` pieces, each with ``CHUNK_MARGIN_S`` of the note on either side, joined
    by ``CHUNK_FADE_S`` cross-fades: a note of one piece comes out exactly as from ``enhance``."""
    rate, size = audio.rate, audio.size
    stream = getattr(denoiser, "stream", None)
    if denoiser.sample_rate == rate and stream is not None:
        yield from stream(blocks(audio), limit_db=limit_db, total=size)
        return
    chunk, margin, half = int(CHUNK_S * rate), int(CHUNK_MARGIN_S * rate), int(CHUNK_FADE_S * rate) // 2
    if size <= chunk + margin:
        yield enhance(denoiser, audio.read(0, size), rate, limit_db=limit_db)
        return
    tail: np.ndarray | None = None  # the previous piece's output over the cross-fade
    for start in range(0, size, chunk):
        end = min(size, start + chunk)
        low, high = max(0, start - margin), min(size, end + margin)
        out = enhance(denoiser, audio.read(low, high), rate, limit_db=limit_db)
        piece = out[(start - half if start else 0) - low : (end - half if end < size else size) - low].copy()
        if tail is not None:
            fade = np.linspace(0.0, 1.0, tail.size, dtype=np.float32)
            piece[: tail.size] = tail * (1.0 - fade) + piece[: tail.size] * fade
        tail = out[end - half - low : end + half - low].copy() if end < size else None
        yield piece


class PassThrough:
    """The ``none`` version: audio goes through untouched, at any rate."""

    sample_rate = FULL_BAND_RATE

    def __init__(self, version: str = "none") -> None:
        self.version = version

    def __call__(
        self, audio: np.ndarray, progress: Progress | None = None, *, limit_db: float | None = None
    ) -> np.ndarray:
        return audio

    def stream(self, audio: Iterable[np.ndarray], **_: object) -> Iterator[np.ndarray]:
        yield from audio


class DeepFilterNet3Denoiser:
    """DeepFilterNet3 with its released weights (``ml.deepfilternet``): 48 kHz, full band."""

    sample_rate = FULL_BAND_RATE

    def __init__(self, version: str = "deepfilternet3", *, archive: str | Path | None = None, threads: int = 1) -> None:
        from ml.deepfilternet import DeepFilterNet3

        self.version = version
        self.model = DeepFilterNet3(archive, threads=threads)

    def __call__(
        self, audio: np.ndarray, progress: Progress | None = None, *, limit_db: float | None = None
    ) -> np.ndarray:
        return self.model(audio, limit_db=limit_db, progress=progress)

    def stream(
        self, audio: Iterable[np.ndarray], *, limit_db: float | None = None, total: int | None = None
    ) -> Iterator[np.ndarray]:
        """The cleaned note a block at a time, the same samples as a call gives (``DeepFilterNet3.stream``)."""
        return self.model.stream(audio, limit_db=limit_db, total=total)


class RNNoiseDenoiser:
    """RNNoise (Valin, 2018) through ``pyrnnoise``'s bundled library: 48 kHz, 10-ms frames, a second at a time."""

    sample_rate = FULL_BAND_RATE
    BLOCK = FULL_BAND_RATE

    def __init__(self, version: str = "rnnoise") -> None:
        from pyrnnoise import rnnoise

        self.version = version
        self._lib = rnnoise.lib
        self._frame = rnnoise.FRAME_SIZE
        if self.sample_rate != rnnoise.SAMPLE_RATE:
            raise RuntimeError(f"pyrnnoise runs at {rnnoise.SAMPLE_RATE} Hz, expected {self.sample_rate}")
        self._delay = 2 * self._frame  # output lags input by two frames

    def __call__(
        self, audio: np.ndarray, progress: Progress | None = None, *, limit_db: float | None = None
    ) -> np.ndarray:
        out = np.empty(audio.size, dtype=np.float32)
        written = 0
        pieces = (audio[start : start + self.BLOCK] for start in range(0, audio.size, self.BLOCK))
        for block in self.stream(pieces, limit_db=limit_db):
            out[written : written + block.size] = block
            written += block.size
            if progress is not None:
                progress(min(1.0, written / max(1, audio.size)))
        return out

    def stream(
        self, audio: Iterable[np.ndarray], *, limit_db: float | None = None, total: int | None = None
    ) -> Iterator[np.ndarray]:
        """The cleaned note a block at a time (as many samples as went in), a second of frames at a time."""
        state = self._lib.rnnoise_create(None)
        pending = dry = wet = np.zeros(0, dtype=np.float32)
        drop = self._delay  # output lags input by two frames

        def run(x: np.ndarray) -> None:
            nonlocal wet, drop
            frames = np.ascontiguousarray((x * 32767.0).reshape(-1, self._frame), dtype=np.float32)
            pointer = ctypes.POINTER(ctypes.c_float)
            for row in frames:
                ptr = row.ctypes.data_as(pointer)
                self._lib.rnnoise_process_frame(state, ptr, ptr)
            out = frames.reshape(-1) / 32767.0
            cut = min(drop, out.size)
            drop -= cut
            wet = np.concatenate([wet, out[cut:]])

        def ready() -> np.ndarray:
            nonlocal wet, dry
            k = min(wet.size, dry.size)
            done = with_floor(dry[:k], wet[:k], limit_db)
            wet, dry = wet[k:], dry[k:]
            return done

        try:
            for piece in audio:
                dry = np.concatenate([dry, piece]).astype(np.float32, copy=False)
                pending = np.concatenate([pending, piece]).astype(np.float32, copy=False)
                whole = pending.size // self.BLOCK * self.BLOCK
                if whole:
                    run(pending[:whole])
                    pending = pending[whole:]
                    yield ready()
            tail = np.concatenate([pending, np.zeros(self._delay, dtype=np.float32)])
            run(np.pad(tail, (0, (-tail.size) % self._frame)))
            yield ready()
        finally:
            self._lib.rnnoise_destroy(state)


class TorchDenoiser:
    """A waveform network run over overlapping chunks with a linear cross-fade (torch: the ``torch`` extra).

    Every network in ``ml.models`` exposes ``enhance_normalized(x)`` for input already at unit std.

    The input is scaled once by its global standard deviation, so chunks share one gain, and memory
    stays bounded by the chunk size however long the note is.
    """

    def __init__(
        self,
        model: Enhancer,
        *,
        version: str,
        chunk_s: float = 10.0,
        overlap_s: float = 0.5,
        floor: float = 1e-3,
    ) -> None:
        if overlap_s * 2 >= chunk_s:
            raise ValueError("overlap must be less than half the chunk")
        self.model = model.eval()
        self.version = version
        self.sample_rate = int(getattr(model, "sample_rate", SAMPLE_RATE))
        self.chunk = int(chunk_s * self.sample_rate)
        self.overlap = int(overlap_s * self.sample_rate)
        self.floor = floor

    def _run(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensor = torch.from_numpy(x).view(1, 1, -1)
            return self.model.enhance_normalized(tensor).reshape(-1).numpy()

    def __call__(
        self, audio: np.ndarray, progress: Progress | None = None, *, limit_db: float | None = None
    ) -> np.ndarray:
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
        clean = (out * std).astype(np.float32, copy=False)
        return with_floor(audio, clean, limit_db)
