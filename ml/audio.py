"""Audio I/O with PyAV: decode anything FFmpeg reads to mono float32 (48 kHz full band, or 16 kHz for Whisper and
the 16-kHz networks); encode Telegram voice notes.

PyAV is imported where it is used: the constants, ``resample`` and ``write_wav`` also serve where PyAV is not
installed (a lent GPU machine, see ``ml.data.codec``)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soxr

from ml.errors import EmptyAudio, TooLong, UnsupportedAudio

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # Whisper and the 16-kHz networks
FULL_BAND_RATE = VOICE_SAMPLE_RATE = 48_000  # Opus voice notes, DeepFilterNet3, RNNoise
VOICE_BITRATE = 40_000
_DECODE_BLOCK = 1 << 20  # resampled samples gathered per block while decoding


def probe_duration(path: str | Path) -> float | None:
    """Return the container's stated duration in seconds, or ``None`` when it does not say."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None


def decode_audio(
    source: str | Path | bytes,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration_s: float | None = None,
    format: str | None = None,
) -> np.ndarray:
    """Decode the first audio stream of ``source`` (a path or the file's bytes) to mono float32.

    ``format`` names FFmpeg's demuxer for headerless files (e.g. ``"g722"``); it is guessed otherwise.

    Raises ``UnsupportedAudio`` for anything FFmpeg cannot read as audio, ``EmptyAudio`` when no samples
    come out, and ``TooLong`` as soon as more than ``max_duration_s`` seconds have been decoded.
    """
    blocks = list(decode_blocks(source, sample_rate=sample_rate, max_duration_s=max_duration_s, format=format))
    return np.concatenate(blocks).astype(np.float32, copy=False)


def decode_blocks(
    source: str | Path | bytes,
    *,
    sample_rate: int = SAMPLE_RATE,
    max_duration_s: float | None = None,
    format: str | None = None,
    block: int = _DECODE_BLOCK,
) -> Iterator[np.ndarray]:
    """``decode_audio`` a block at a time (``block`` samples, the last one shorter), so that a long note need not be
    held in memory; raises what ``decode_audio`` raises, each as soon as it is known (``EmptyAudio`` before any
    block, ``TooLong`` before a block that would pass the limit is given out)."""
    import av

    opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    if isinstance(source, bytes) and not source:
        raise EmptyAudio("the file is empty")
    if not isinstance(source, bytes) and Path(source).stat().st_size == 0:
        raise EmptyAudio("the file is empty")
    try:
        container = av.open(opened, mode="r", format=format, metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UnsupportedAudio("this file is not audio I can read") from exc
    limit = None if max_duration_s is None else int(max_duration_s * sample_rate)
    pending: list[np.ndarray] = []
    held = total = 0

    def gathered() -> np.ndarray:
        nonlocal held
        out = np.concatenate(pending).astype(np.float32, copy=False)
        pending.clear()
        held = 0
        np.nan_to_num(out, copy=False)
        return out

    with container:
        if not container.streams.audio:
            raise UnsupportedAudio("this file has no sound track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    pending.append(samples)
                    held += samples.size
                    total += samples.size
                if limit is not None and total > limit:
                    raise TooLong(total / sample_rate, max_duration_s)  # type: ignore[arg-type]
                if held >= block:
                    yield gathered()
            for out in resampler.resample(None):
                samples = out.to_ndarray().reshape(-1)
                pending.append(samples)
                held += samples.size
                total += samples.size
        except av.FFmpegError as exc:
            if total == 0:
                raise UnsupportedAudio("the audio in this file is damaged") from exc
            log.warning("decoding stopped early after %.1f s: %s", total / sample_rate, exc)
    if total == 0:
        raise EmptyAudio("the file holds no audio")
    if limit is not None and total > limit:
        raise TooLong(total / sample_rate, max_duration_s)  # type: ignore[arg-type]
    if held:
        yield gathered()


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling of a mono float32 signal (soxr)."""
    if rate_in == rate_out:
        return audio
    return soxr.resample(audio, rate_in, rate_out).astype(np.float32, copy=False)


def resample_blocks(blocks: Iterable[np.ndarray], rate_in: int, rate_out: int) -> Iterator[np.ndarray]:
    """``resample`` on a note given a block at a time (soxr's streaming form; the same filter)."""
    if rate_in == rate_out:
        yield from blocks
        return
    stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32")
    for block in blocks:
        out = stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))
        if out.size:
            yield out
    yield stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def encode_voice(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    bitrate: int = VOICE_BITRATE,
    application: str = "voip",
    cutoff_hz: int | None = None,
) -> bytes:
    """Encode mono float32 audio as an OGG/Opus voice note (48 kHz mono), as Telegram's sendVoice wants.

    Resamples and encodes a second at a time, so memory does not grow with the note's length. ``application``
    is libopus's (``voip``, ``audio`` or ``lowdelay``); ``cutoff_hz`` caps the coded band (4000, 6000, 8000,
    12000 or 20000; default: the whole band).
    """
    return encode_voice_blocks(
        [audio], sample_rate=sample_rate, bitrate=bitrate, application=application, cutoff_hz=cutoff_hz
    )


def encode_voice_blocks(
    blocks: Iterable[np.ndarray],
    *,
    sample_rate: int = SAMPLE_RATE,
    bitrate: int = VOICE_BITRATE,
    application: str = "voip",
    cutoff_hz: int | None = None,
) -> bytes:
    """``encode_voice`` on a note given a block at a time (any sizes): only the OGG bytes are kept."""
    import av

    upsample = None
    if sample_rate != VOICE_SAMPLE_RATE:
        upsample = soxr.ResampleStream(sample_rate, VOICE_SAMPLE_RATE, 1, dtype="float32")
    buffer = io.BytesIO()
    pts = 0
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=VOICE_SAMPLE_RATE, layout="mono")
        stream.bit_rate = bitrate
        stream.options = {"application": application, **({"cutoff": str(cutoff_hz)} if cutoff_hz else {})}

        def encode(block: np.ndarray, last: bool) -> None:
            nonlocal pts
            block = np.clip(block, -1.0, 1.0).astype(np.float32, copy=False)
            pcm = block if upsample is None else upsample.resample_chunk(block, last=last)
            if pcm.size == 0:
                return
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = VOICE_SAMPLE_RATE
            frame.pts = pts
            pts += pcm.size
            for packet in stream.encode(frame):
                container.mux(packet)

        held = np.zeros(0, dtype=np.float32)  # less than a second, waiting for the rest of its second
        for audio in blocks:
            held = np.concatenate([held, audio]) if held.size else audio
            whole = held.size // sample_rate * sample_rate
            for start in range(0, whole, sample_rate):
                encode(held[start : start + sample_rate], last=False)
            held = held[whole:]
        encode(held, last=True)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float32 audio as 16-bit PCM WAV."""
    import wave

    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())
