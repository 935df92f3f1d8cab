"""The whole job on one note: decode → denoise → transcribe → encode, with timings and versions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ml.audio import SAMPLE_RATE, decode_audio, encode_voice
from ml.denoisers import Denoiser
from ml.errors import NoSpeech
from ml.transcriber import Transcriber, Transcript

Strategy = Literal["original", "denoised", "mix", "best"]
STRATEGIES: tuple[str, ...] = ("original", "denoised", "mix", "best")
Stage = Literal["decoding", "denoising", "transcribing", "encoding"]
StageCallback = Callable[[str], None]
SILENCE_RMS = 10 ** (-60 / 20)  # −60 dBFS


@dataclass(frozen=True)
class PipelineOptions:
    """How one note is processed. ``strategy`` says which audio Whisper hears."""

    denoise: bool = True
    strategy: Strategy = "original"
    mix_ratio: float = 0.5  # share of the original added back for the "mix" strategy
    language: str | None = None  # fixed language; None = detect
    language_hint: str | None = None  # the user's language, trusted when detection is unsure
    beam_size: int = 5
    vad: bool = False
    max_duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError("mix_ratio must be within [0, 1]")


@dataclass
class PipelineResult:
    voice_ogg: bytes
    transcript: Transcript
    duration_s: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    heard: str = "original"

    def to_json(self) -> dict[str, Any]:
        """What ``voicebot process`` writes next to the cleaned note."""
        return {
            "text": self.transcript.text,
            "language": self.transcript.language,
            "language_probability": round(self.transcript.language_probability, 3),
            "duration_s": round(self.duration_s, 3),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "models": self.models,
            "heard": self.heard,
            "segments": self.transcript.segments_json(),
        }


class Pipeline:
    """Runs loaded models over notes; stateless between notes."""

    def __init__(self, denoiser: Denoiser, transcriber: Transcriber) -> None:
        self.denoiser = denoiser
        self.transcriber = transcriber

    def process(
        self,
        source: str | Path | bytes,
        options: PipelineOptions = PipelineOptions(),
        on_stage: StageCallback | None = None,
    ) -> PipelineResult:
        """Process one note. Raises ``ml.errors.AudioError`` subclasses on bad input."""
        timings: dict[str, float] = {}

        def stage(name: str) -> float:
            if on_stage is not None:
                on_stage(name)
            return time.perf_counter()

        started = stage("decoding")
        audio = decode_audio(source, max_duration_s=options.max_duration_s)
        timings["decode"] = (time.perf_counter() - started) * 1000
        if float(np.sqrt(np.mean(np.square(audio)))) < SILENCE_RMS:
            raise NoSpeech("no speech found: the note is silent")

        started = stage("denoising")
        clean = self.denoiser(audio) if options.denoise else audio
        timings["denoise"] = (time.perf_counter() - started) * 1000

        started = stage("transcribing")
        transcript, heard = transcribe_with_strategy(self.transcriber, audio, clean, options)
        timings["transcribe"] = (time.perf_counter() - started) * 1000
        if not transcript.text:
            raise NoSpeech("no speech found in this note")

        started = stage("encoding")
        voice = encode_voice(clean)
        timings["encode"] = (time.perf_counter() - started) * 1000
        return PipelineResult(
            voice_ogg=voice,
            transcript=transcript,
            duration_s=audio.size / SAMPLE_RATE,
            timings_ms=timings,
            models={
                "denoiser": self.denoiser.version if options.denoise else "none",
                "whisper": self.transcriber.version,
            },
            heard=heard,
        )


def transcribe_with_strategy(
    transcriber: Transcriber, audio: np.ndarray, clean: np.ndarray, options: PipelineOptions
) -> tuple[Transcript, str]:
    """Transcribe what ``options.strategy`` says Whisper should hear; returns (transcript, what it heard).

    ``original``: the untouched note; ``denoised``: the cleaned one; ``mix``: the cleaned one with part of
    the original added back; ``best``: both, keeping the one Whisper is more confident in (mean log-prob).
    """

    def run(x: np.ndarray) -> Transcript:
        return transcriber.transcribe(
            x, language=options.language, hint=options.language_hint, beam_size=options.beam_size, vad=options.vad
        )

    strategy = options.strategy if options.denoise else "original"
    if strategy == "original":
        return run(audio), "original"
    if strategy == "denoised":
        return run(clean), "denoised"
    if strategy == "mix":
        return run((1 - options.mix_ratio) * clean + options.mix_ratio * audio), "mix"
    original, denoised = run(audio), run(clean)
    if denoised.avg_logprob > original.avg_logprob:
        return denoised, "denoised"
    return original, "original"
