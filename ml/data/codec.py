"""The training data's codec: reading audio files and the Opus voice-note round trip.

Through PyAV (``ml.audio``) where it is installed, else through libsndfile (``soundfile``): a lent GPU machine is
carried soundfile's 1.3-MB wheel rather than PyAV's 36 MB (``make gpu-wheels``). There the round trip is
libsndfile's Opus encoder, libopus in its ``audio`` application at a variable bit rate, rather than the voice notes'
``voip``; at 16-32 kb/s both bring clean speech down to a PESQ-wb of about 3.2-3.8.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np

from ml.audio import SAMPLE_RATE, VOICE_SAMPLE_RATE, resample

# libsndfile maps its compression level 0..1 linearly onto Opus bit rates of 256 down to 6 kb/s (measured)
SNDFILE_OPUS_KBPS = (256.0, 6.0)
SNDFILE_OPUS_LEAD = 2  # samples at 48 kHz by which libsndfile's Opus round trip comes out early (measured)


@cache
def have_pyav() -> bool:
    """Whether PyAV can be imported here."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def read_audio(path: str | Path) -> np.ndarray:
    """The first audio stream of a file as mono float32 at 16 kHz."""
    if have_pyav():
        from ml.audio import decode_audio

        return decode_audio(path)
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return resample(np.ascontiguousarray(data.mean(axis=1)), rate, SAMPLE_RATE)


def opus_coded(x: np.ndarray, bitrate: int) -> np.ndarray:
    """16-kHz ``x`` through a 48-kHz Opus voice note at ``bitrate`` b/s and back: aligned, the same length."""
    if have_pyav():
        from ml.audio import decode_audio, encode_voice

        coded = decode_audio(encode_voice(x, sample_rate=SAMPLE_RATE, bitrate=bitrate))
    else:
        coded = _sndfile_opus(x, bitrate)
    out = np.zeros_like(x)
    size = min(x.size, coded.size)
    out[:size] = coded[:size]
    return out


def _sndfile_opus(x: np.ndarray, bitrate: int) -> np.ndarray:
    import soundfile

    high, low = SNDFILE_OPUS_KBPS
    level = float(np.clip((high - bitrate / 1000) / (high - low), 0.0, 1.0))
    buffer = io.BytesIO()
    wide = resample(np.ascontiguousarray(x, dtype=np.float32), SAMPLE_RATE, VOICE_SAMPLE_RATE)
    soundfile.write(buffer, wide, VOICE_SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=level)
    buffer.seek(0)
    coded, rate = soundfile.read(buffer, dtype="float32")
    coded = np.concatenate([np.zeros(SNDFILE_OPUS_LEAD, dtype=np.float32), coded])
    return resample(coded, rate, SAMPLE_RATE)
