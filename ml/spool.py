"""Long notes in flat memory: signals kept in anonymous temporary files and read back by range.

A ``Spool`` appends float32 samples block by block to a temporary file in a private directory (``workspace``) and
reads any range back into an ordinary array. The file has no name (it is unlinked as it is made) and is closed, so
gone, when the spool is; the directory goes when the note is done or fails. Spools are read with plain reads, not
mapped: mapped file pages count in a process's memory and stay resident, read pages only sit in the page cache.

Everything that reads a note by range takes a ``Signal``: a spool, an array (``Samples``), a spool scaled by a gain
(``Scaled``) or two signals mixed (``Mixed``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

BLOCK_S = 10.0  # what a pass over a signal reads at a time
_ITEM = np.dtype(np.float32).itemsize


@runtime_checkable
class Signal(Protocol):
    """Mono float32 samples at ``rate`` that can be read by range."""

    rate: int

    @property
    def size(self) -> int: ...

    def read(self, start: int, end: int) -> np.ndarray: ...


class Samples:
    """An array as a ``Signal``."""

    def __init__(self, audio: np.ndarray, rate: int) -> None:
        self.audio, self.rate = audio, rate

    @property
    def size(self) -> int:
        return int(self.audio.size)

    def read(self, start: int, end: int) -> np.ndarray:
        return self.audio[max(0, start) : max(0, end)]


class Spool:
    """Float32 samples appended to an anonymous temporary file in ``directory`` and read back by range."""

    def __init__(self, rate: int, directory: str | Path | None = None) -> None:
        self.rate = rate
        self._file = tempfile.TemporaryFile(dir=directory, buffering=0)  # noqa: SIM115 (closed by close(), or with the spool)
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=np.float32).data.cast("B")
        offset, done = self._size * _ITEM, 0
        while done < data.nbytes:  # unbuffered: what is appended can be read at once
            done += os.pwrite(self._file.fileno(), data[done:], offset + done)
        self._size += data.nbytes // _ITEM

    def extend(self, blocks: Iterable[np.ndarray]) -> Spool:
        for block in blocks:
            self.append(block)
        return self

    def read(self, start: int, end: int) -> np.ndarray:
        start, end = max(0, start), min(self._size, end)
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        data = os.pread(self._file.fileno(), (end - start) * _ITEM, start * _ITEM)
        return np.frombuffer(data, dtype=np.float32).copy()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Scaled:
    """A signal multiplied by a constant factor as it is read."""

    def __init__(self, signal: Signal, factor: float) -> None:
        self.signal, self.rate, self.factor = signal, signal.rate, np.float32(factor)

    @property
    def size(self) -> int:
        return self.signal.size

    def read(self, start: int, end: int) -> np.ndarray:
        return self.signal.read(start, end) * self.factor


class Mixed:
    """``(1 - ratio) * main + ratio * other``, made as it is read (both signals have one rate and length)."""

    def __init__(self, other: Signal, main: Signal, ratio: float) -> None:
        self.other, self.main, self.ratio, self.rate = other, main, ratio, main.rate

    @property
    def size(self) -> int:
        return min(self.main.size, self.other.size)

    def read(self, start: int, end: int) -> np.ndarray:
        main, other = self.main.read(start, end), self.other.read(start, end)
        return ((1 - self.ratio) * main + self.ratio * other).astype(np.float32)


def as_signal(audio: np.ndarray | Signal, rate: int) -> Signal:
    return Samples(audio, rate) if isinstance(audio, np.ndarray) else audio


def blocks(signal: Signal, size: int | None = None) -> Iterator[np.ndarray]:
    """The whole signal, ``size`` samples at a time (``BLOCK_S`` seconds by default)."""
    size = size or int(BLOCK_S * signal.rate)
    for start in range(0, signal.size, size):
        yield signal.read(start, start + size)


def read_all(signal: np.ndarray | Signal) -> np.ndarray:
    """The whole signal as one array (for short notes and tests)."""
    if isinstance(signal, np.ndarray):
        return signal
    return signal.read(0, signal.size)


@contextmanager
def workspace(prefix: str = "voicebot-") -> Iterator[Path]:
    """A private temporary directory (mode 0700) for one note's spools, removed with whatever is left in it when
    the block ends, also on an error."""
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        yield Path(directory)
