"""The whole job on one note: decode → denoise → transcribe → encode, with timings and versions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ml.audio import FULL_BAND_RATE, SAMPLE_RATE, decode_audio, encode_voice, resample
from ml.denoisers import STRENGTHS, Denoiser, Strength, enhance, limit_db_for
from ml.errors import NoSpeech
from ml.loudness import TRUE_PEAK_DBTP, WORKING_LUFS, gain_db_to, normalize_voice
from ml.transcriber import Transcriber, Transcript
from ml.vad import has_speech

Strategy = Literal["original", "denoised", "mix", "best", "auto"]
STRATEGIES: tuple[str, ...] = ("original", "denoised", "mix", "best", "auto")
# "auto" lets Whisper hear the mix when a note's level range is under this, the untouched note otherwise: on dev
# speech the mix beat the untouched note at 0-10 dB SNR and lost to it at 20 dB (BENCHMARKS.md, "Transcript WER
# by SNR"); a range of 22 dB falls between those (most 10-dB notes are under it, no 20-dB note is).
AUTO_MIX_BELOW_DB = 22.0
FRAME = 320  # 20 ms
Stage = Literal["decoding", "denoising", "transcribing", "encoding"]
StageCallback = Callable[[str], None]


@dataclass(frozen=True)
class PipelineOptions:
    """How one note is processed. ``strength`` is how much noise to remove (``off``: none); ``strategy`` says
    which audio Whisper hears."""

    strength: Strength = "strong"
    strategy: Strategy = "auto"
    mix_ratio: float = 0.5  # share of the original added back for the "mix" strategy
    language: str | None = None  # fixed language; None = detect
    language_hint: str | None = None  # the user's language, trusted when detection is unsure
    beam_size: int = 5
    vad: bool = False
    max_duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.strength not in STRENGTHS:
            raise ValueError(f"strength must be one of {', '.join(STRENGTHS)}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError("mix_ratio must be within [0, 1]")

    @property
    def denoise(self) -> bool:
        return self.strength != "off"


@dataclass
class PipelineResult:
    voice_ogg: bytes
    transcript: Transcript
    duration_s: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    heard: str = "original"
    strength: str = "strong"
    loudness: dict[str, float] = field(default_factory=dict)  # input_lufs, output_lufs

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
            "strength": self.strength,
            "loudness": {k: round(v, 1) if math.isfinite(v) else None for k, v in self.loudness.items()},
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
        audio = decode_audio(source, sample_rate=FULL_BAND_RATE, max_duration_s=options.max_duration_s)
        # every model hears the note at one working level: a quiet note is not a silent one
        gain, input_lufs = gain_db_to(audio, FULL_BAND_RATE, WORKING_LUFS, TRUE_PEAK_DBTP)  # see working_gain
        if not math.isfinite(input_lufs):  # digital silence; anything else is judged by voice activity below
            raise NoSpeech("no speech found: the note is silent")
        audio *= np.float32(10.0 ** (gain / 20.0))
        speech = resample(audio, FULL_BAND_RATE, SAMPLE_RATE)  # what Whisper hears of the untouched note
        timings["decode"] = (time.perf_counter() - started) * 1000

        started = stage("denoising")
        if options.denoise:
            limit_db = limit_db_for(options.strength)
            clean = enhance(self.denoiser, audio, FULL_BAND_RATE, limit_db=limit_db)
            clean_speech = resample(clean, FULL_BAND_RATE, SAMPLE_RATE)
        else:
            clean, clean_speech = audio, speech
        duration_s = audio.size / FULL_BAND_RATE
        del audio  # the untouched note is kept at 16 kHz only from here on (a long note's 48 kHz copy is large)
        timings["denoise"] = (time.perf_counter() - started) * 1000

        started = stage("transcribing")
        if not (has_speech(speech) or has_speech(clean_speech)):
            raise NoSpeech("no speech found in this note")
        transcript, heard = transcribe_with_strategy(self.transcriber, speech, clean_speech, options)
        timings["transcribe"] = (time.perf_counter() - started) * 1000
        if not transcript.text:
            raise NoSpeech("no speech found in this note")

        started = stage("encoding")
        normalized, output_lufs = normalize_voice(clean, FULL_BAND_RATE)
        voice = encode_voice(normalized, sample_rate=FULL_BAND_RATE)
        timings["encode"] = (time.perf_counter() - started) * 1000
        return PipelineResult(
            voice_ogg=voice,
            transcript=transcript,
            duration_s=duration_s,
            timings_ms=timings,
            models={
                "denoiser": self.denoiser.version if options.denoise else "none",
                "whisper": self.transcriber.version,
            },
            heard=heard,
            strength=options.strength,
            loudness={"input_lufs": input_lufs, "output_lufs": output_lufs},
        )


def level_range_db(audio: np.ndarray) -> float:
    """How far a note's loud 20-ms frames stand above its quiet ones (95th over 10th percentile of frame energy,
    in dB): speech over the noise floor, an SNR proxy that needs no denoiser (it reads high by about 8 dB)."""
    frames = audio.size // FRAME
    if frames < 10:
        return float("inf")
    energy = np.mean(np.square(audio[: frames * FRAME].reshape(frames, FRAME), dtype=np.float64), axis=1)
    levels = 10.0 * np.log10(energy + 1e-10)
    return float(np.percentile(levels, 95) - np.percentile(levels, 10))


def mixed(audio: np.ndarray, clean: np.ndarray, ratio: float) -> np.ndarray:
    """The cleaned note with ``ratio`` of the untouched one added back (what the ``mix`` strategy hears)."""
    return ((1 - ratio) * clean + ratio * audio).astype(np.float32)


def auto_hears(audio: np.ndarray) -> str:
    """What the ``auto`` strategy lets Whisper hear: ``mix`` for a noisy note, ``original`` for a clear one."""
    return "mix" if level_range_db(audio) < AUTO_MIX_BELOW_DB else "original"


def surer(original: Transcript, denoised: Transcript) -> tuple[Transcript, str]:
    """The ``best`` strategy's pick: the transcript Whisper is more confident in (mean log-probability)."""
    if denoised.avg_logprob > original.avg_logprob:
        return denoised, "denoised"
    return original, "original"


def transcribe_with_strategy(
    transcriber: Transcriber, audio: np.ndarray, clean: np.ndarray, options: PipelineOptions
) -> tuple[Transcript, str]:
    """Transcribe what ``options.strategy`` says Whisper should hear; returns (transcript, what it heard).

    ``original``: the untouched note; ``denoised``: the cleaned one; ``mix``: the cleaned one with part of
    the original added back; ``best``: both, keeping the one Whisper is more confident in (mean log-prob);
    ``auto``: ``mix`` when the note is noisy (level range under ``AUTO_MIX_BELOW_DB``), else ``original``.
    """

    def run(x: np.ndarray) -> Transcript:
        return transcriber.transcribe(
            x, language=options.language, hint=options.language_hint, beam_size=options.beam_size, vad=options.vad
        )

    strategy = options.strategy if options.denoise else "original"
    if strategy == "auto":
        strategy = auto_hears(audio)
    if strategy == "original":
        return run(audio), "original"
    if strategy == "denoised":
        return run(clean), "denoised"
    if strategy == "mix":
        return run(mixed(audio, clean, options.mix_ratio)), "mix"
    return surer(run(audio), run(clean))
