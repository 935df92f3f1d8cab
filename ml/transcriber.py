"""Speech to text with faster-whisper (CTranslate2, int8 on the CPU)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ml.spool import Signal, as_signal

log = logging.getLogger(__name__)

# A user's language overrides Whisper's guess when Whisper is less sure than this.
HINT_CONFIDENCE = 0.8
SAMPLE_RATE = 16_000
# Long notes are transcribed in windows of this length, cut in a pause, so that Whisper's features (computed
# for the whole input at once) stay small: a 60-minute note would otherwise need gigabytes.
WINDOW_S = 300
# faster-whisper's own default: a window that looks failed (repetitive, unlikely) is decoded again, hotter
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
_CUT_SEARCH_S = 20  # look for the quietest 100 ms in the window's last seconds


def windows(audio: np.ndarray | Signal, window_s: float = WINDOW_S) -> list[tuple[int, int]]:
    """(start, end) sample ranges of at most ``window_s`` seconds covering ``audio`` (an array or a spool at 16 kHz),
    cut where it is quietest."""
    audio = as_signal(audio, SAMPLE_RATE)
    size, window, frame = audio.size, int(window_s * SAMPLE_RATE), SAMPLE_RATE // 10
    bounds, start = [], 0
    while size - start > window:
        search = start + window - min(_CUT_SEARCH_S * SAMPLE_RATE, window // 3)
        region = audio.read(search, start + window)
        energy = np.square(region[: region.size // frame * frame].reshape(-1, frame)).mean(axis=1)
        cut = search + int(np.argmin(energy)) * frame + frame // 2
        bounds.append((start, cut))
        start = cut
    bounds.append((start, size))
    return bounds


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass
class Transcript:
    text: str
    language: str
    language_probability: float
    segments: list[Segment] = field(default_factory=list)

    @property
    def avg_logprob(self) -> float:
        """Duration-weighted mean log-probability of the segments (−inf when there are none)."""
        if not self.segments:
            return float("-inf")
        weights = np.array([max(s.end - s.start, 0.01) for s in self.segments])
        values = np.array([s.avg_logprob for s in self.segments])
        return float((weights * values).sum() / weights.sum())

    def segments_json(self) -> list[dict]:
        return [asdict(s) for s in self.segments]


class Transcriber:
    """A loaded Whisper model. ``transcribe`` is thread-safe enough for one job at a time per worker."""

    def __init__(self, model_dir: str | Path, *, version: str, threads: int = 2, compute_type: str = "int8") -> None:
        from faster_whisper import WhisperModel

        self.version = version
        self.model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def choose_language(
        self, audio: np.ndarray | Signal, language: str | None, hint: str | None, *, vad: bool = False
    ) -> str | None:
        """Fixed language wins; otherwise Whisper detects (on the speech only when ``vad``), and a user's hint
        overrules a shaky guess."""
        if not self.multilingual:
            return "en"
        if language:
            return language
        if not hint:
            return None
        first = as_signal(audio, SAMPLE_RATE).read(0, 30 * SAMPLE_RATE)
        detected, probability, _ = self.model.detect_language(audio=first, vad_filter=vad)
        if detected != hint and probability < HINT_CONFIDENCE:
            log.info("language: detected %s (p=%.2f), using the user's %s", detected, probability, hint)
            return hint
        return detected

    def transcribe(
        self,
        audio: np.ndarray | Signal,
        *,
        language: str | None = None,
        hint: str | None = None,
        beam_size: int = 5,
        vad: bool = False,
        fallback: bool = True,
    ) -> Transcript:
        """Transcribe 16 kHz mono float32 audio (an array, or a ``Signal`` such as a spool, read a window at a
        time); ``fallback=False`` decodes at temperature 0 only.

        A note longer than ``WINDOW_S`` is transcribed a window at a time (``windows``: cut in its quietest 100 ms
        near each boundary), in the language chosen once for the whole note, with each window's timestamps moved
        to where the window starts: faster-whisper computes its features for the whole input it is given, so
        memory stays that of one window however long the note."""
        audio = as_signal(audio, SAMPLE_RATE)
        chosen = self.choose_language(audio, language, hint, vad=vad)
        found: list[Segment] = []
        detected: tuple[str, float] | None = None
        for start, end in windows(audio, WINDOW_S):
            segments, info = self.model.transcribe(
                audio.read(start, end),
                language=chosen,
                beam_size=beam_size,
                vad_filter=vad,
                condition_on_previous_text=False,
                temperature=FALLBACK_TEMPERATURES if fallback else 0.0,
            )
            offset = start / SAMPLE_RATE
            found += [
                Segment(s.start + offset, s.end + offset, s.text.strip(), s.avg_logprob, s.no_speech_prob)
                for s in segments
                if s.text.strip()
            ]
            if detected is None:
                detected = (info.language, float(info.language_probability))
                chosen = chosen or info.language  # later windows keep the first window's language
        language_code, probability = detected or (chosen or "", 0.0)
        return Transcript(
            text=" ".join(s.text for s in found).strip(),
            language=language_code,
            language_probability=probability,
            segments=found,
        )
