"""Is there speech in a note? Silero VAD, the model faster-whisper ships and runs with onnxruntime."""

from __future__ import annotations

import numpy as np

from ml.spool import Signal, as_signal

SAMPLE_RATE = 16_000
CHUNK_S = 30.0  # judged a chunk at a time, stopping at the first speech found
MIN_SPEECH_MS = 250  # shorter blips (a click, a cough) are not speech


def has_speech(audio: np.ndarray | Signal, *, threshold: float = 0.5) -> bool:
    """True when Silero VAD finds at least ``MIN_SPEECH_MS`` of speech in 16-kHz ``audio`` (an array or a spool).

    Silero judges the shape of the signal, not its level, but it was trained on speech at ordinary levels: give
    it a note brought to a working level first (``ml.loudness``)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=threshold, min_speech_duration_ms=MIN_SPEECH_MS)
    step = int(CHUNK_S * SAMPLE_RATE)
    audio = as_signal(audio, SAMPLE_RATE)
    for start in range(0, audio.size, step):
        chunk = np.ascontiguousarray(audio.read(start, start + step), dtype=np.float32)
        if chunk.size >= SAMPLE_RATE // 10 and get_speech_timestamps(chunk, options):
            return True
    return False
