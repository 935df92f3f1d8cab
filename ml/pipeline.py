"""The whole job on one note: decode → denoise → transcribe → encode, with timings and versions."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import soxr

from ml.audio import FULL_BAND_RATE, SAMPLE_RATE, decode_blocks, encode_voice_blocks, resample_blocks
from ml.denoisers import Denoiser, enhance_stream
from ml.errors import NoSpeech
from ml.loudness import (
    TRUE_PEAK_DBTP,
    WORKING_LUFS,
    LoudnessMeter,
    PeakMeter,
    gain_for,
    integrated_lufs,
    limited_blocks,
    normalizing_gain,
)
from ml.spool import Mixed, Scaled, Signal, Spool, as_signal, blocks, workspace
from ml.strategies import STRATEGIES, Strategy
from ml.transcriber import Transcriber, Transcript
from ml.vad import has_speech

# "auto" lets Whisper hear the mix when a note's level range is under this, the untouched note otherwise: on dev
# speech the mix beat the untouched note at 0-10 dB SNR and lost to it at 20 dB (BENCHMARKS.md, "Transcript WER
# by SNR"); a range of 22 dB falls between those (most 10-dB notes are under it, no 20-dB note is).
AUTO_MIX_BELOW_DB = 22.0
# The share of the untouched note the mix adds back to the cleaned one: with deepfilternet3-vn1, 0.3 gave Whisper
# base the lowest mean WER over 0-10 dB SNR, where "auto" mixes, on English dev speech (against 0.2, 0.5 and 0.7)
# and on held-out Russian speakers and noises (against 0.2 and 0.5), though not at every SNR (0.2 was lower at
# 0 dB held-out, 0.5 at 5 dB dev) (BENCHMARKS.md, "Which share of the untouched note Whisper hears").
MIX_RATIO = 0.3
FRAME = 320  # 20 ms
Stage = Literal["decoding", "denoising", "transcribing", "encoding"]
StageCallback = Callable[[str], None]
_T = TypeVar("_T")


@dataclass(frozen=True)
class PipelineOptions:
    """How one note is processed. ``limit_db`` is the most noise the denoiser may take away, in dB (``None``: no
    limit; 0: nothing, so it does not run); ``strategy`` says which audio Whisper hears."""

    limit_db: float | None = None
    strategy: Strategy = "auto"
    mix_ratio: float = MIX_RATIO  # share of the original added back for the "mix" strategy
    language: str | None = None  # fixed language; None = detect
    language_hint: str | None = None  # the user's language, trusted when detection is unsure
    beam_size: int = 5
    vad: bool = False
    max_duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.limit_db is not None and not self.limit_db >= 0.0:
            raise ValueError("limit_db must be None (no limit) or at least 0 dB")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        if not 0.0 <= self.mix_ratio <= 1.0:
            raise ValueError("mix_ratio must be within [0, 1]")

    @property
    def denoise(self) -> bool:
        """Whether the denoiser runs: not when it may take nothing away."""
        return self.limit_db != 0.0


@dataclass
class PipelineResult:
    voice_ogg: bytes
    transcript: Transcript
    duration_s: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    heard: str = "original"
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
        """Process one note. Raises ``ml.errors.AudioError`` subclasses on bad input.

        The note streams through: its signals (decoded at 48 kHz, cleaned, and both at 16 kHz for Whisper) go to
        spools in a private temporary directory, removed when the note is done or fails, and every stage reads
        them a block or a Whisper window at a time, so memory stays flat however long the note."""
        timings: dict[str, float] = {}
        began = time.perf_counter()

        def stage(name: str) -> float:
            if on_stage is not None:
                on_stage(name)
            return time.perf_counter()

        def timed(name: str, work: Callable[..., _T], *args: Any) -> _T:
            started = time.perf_counter()
            try:
                return work(*args)
            finally:
                timings[name] = (time.perf_counter() - started) * 1000

        whisper_lock = threading.Lock()

        def run(audio: Signal) -> Transcript:
            started = time.perf_counter()
            try:
                return self.transcriber.transcribe(
                    audio, language=options.language, hint=options.language_hint, beam_size=options.beam_size,
                    vad=options.vad,
                )  # fmt: skip
            finally:
                with whisper_lock:  # "best" runs two at once
                    spent = (time.perf_counter() - started) * 1000
                    timings["transcribe"] = timings.get("transcribe", 0.0) + spent

        # Whisper decodes mostly on one core: what does not wait for its input runs beside it, on the other
        # (the untouched note's transcript beside denoising, the encoder beside transcription).
        with workspace() as directory, ExitStack() as spools, ThreadPoolExecutor(2, "pipeline") as beside:

            def spool(rate: int) -> Spool:
                return spools.enter_context(Spool(rate, directory))

            started = stage("decoding")
            note, loudness, peak = spool(FULL_BAND_RATE), LoudnessMeter(FULL_BAND_RATE), PeakMeter(FULL_BAND_RATE)
            for block in decode_blocks(source, sample_rate=FULL_BAND_RATE, max_duration_s=options.max_duration_s):
                note.append(block)
                loudness.add(block)
                peak.add(block)
            # every model hears the note at one working level: a quiet note is not a silent one
            input_lufs = loudness.lufs(below_gate=True)
            if not math.isfinite(input_lufs):  # digital silence; anything else is judged by voice activity below
                raise NoSpeech("no speech found: the note is silent")
            gain = gain_for(input_lufs, peak.dbtp(), WORKING_LUFS, TRUE_PEAK_DBTP)  # see working_gain
            audio = Scaled(note, 10.0 ** (gain / 20.0))
            # what Whisper hears of the untouched note
            speech = spool(SAMPLE_RATE).extend(resample_blocks(blocks(audio), FULL_BAND_RATE, SAMPLE_RATE))
            timings["decode"] = (time.perf_counter() - started) * 1000

            heard = planned_hearing(options, speech)
            spoken = has_speech(speech)
            original: Future[Transcript] | None = None
            if spoken and heard in ("original", "best"):
                original = beside.submit(run, speech)

            started = stage("denoising")
            clean: Signal = audio
            clean_speech: Signal = speech
            if options.denoise:
                clean, cleaned = spool(FULL_BAND_RATE), spool(SAMPLE_RATE)
                output = LoudnessMeter(FULL_BAND_RATE)
                down = soxr.ResampleStream(FULL_BAND_RATE, SAMPLE_RATE, 1, dtype="float32")
                for block in enhance_stream(self.denoiser, audio, limit_db=options.limit_db):
                    clean.append(block)
                    output.add(block)
                    cleaned.append(down.resample_chunk(block))
                cleaned.append(down.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
                clean_lufs, clean_speech = output.lufs(below_gate=True), cleaned
            else:
                clean_lufs = integrated_lufs(clean, FULL_BAND_RATE, below_gate=True)
            duration_s = note.size / FULL_BAND_RATE
            timings["denoise"] = (time.perf_counter() - started) * 1000

            if not (spoken or has_speech(clean_speech)):
                raise NoSpeech("no speech found in this note")
            voice = beside.submit(timed, "encode", encode_normalized, clean, clean_lufs)

            stage("transcribing")
            if heard == "original":
                transcript = original.result() if original else run(speech)
            elif heard == "denoised":
                transcript = run(clean_speech)
            elif heard == "mix":
                transcript = run(Mixed(speech, clean_speech, options.mix_ratio))
            else:
                transcript, heard = surer(original.result() if original else run(speech), run(clean_speech))
            if not transcript.text:
                raise NoSpeech("no speech found in this note")
            stage("encoding")
            voice_ogg, output_lufs = voice.result()
        timings["total"] = (time.perf_counter() - began) * 1000
        return PipelineResult(
            voice_ogg=voice_ogg,
            transcript=transcript,
            duration_s=duration_s,
            timings_ms=timings,
            models={
                "denoiser": self.denoiser.version if options.denoise else "none",
                "whisper": self.transcriber.version,
            },
            heard=heard,
            loudness={"input_lufs": input_lufs, "output_lufs": output_lufs},
        )


def encode_normalized(clean: Signal, loudness: float) -> tuple[bytes, float]:
    """(the voice note, its loudness): ``normalize_voice`` then ``encode_voice`` on a note measured at ``loudness``,
    streamed from ``clean`` (each normalising pass, then the encoder, reads it a block at a time)."""
    if not math.isfinite(loudness):
        return encode_voice_blocks(blocks(clean), sample_rate=clean.rate), loudness
    gain, reached = normalizing_gain(clean, loudness)
    return encode_voice_blocks(limited_blocks(clean, gain_db=gain), sample_rate=clean.rate), reached


def level_range_db(audio: np.ndarray | Signal) -> float:
    """How far a note's loud 20-ms frames stand above its quiet ones (95th over 10th percentile of frame energy,
    in dB): speech over the noise floor, an SNR proxy that needs no denoiser (it reads high by about 8 dB).
    ``audio`` (16 kHz) may be a spool: it is read a block at a time, and one number per frame kept."""
    audio = as_signal(audio, SAMPLE_RATE)
    frames = audio.size // FRAME
    if frames < 10:
        return float("inf")
    levels = []
    step = FRAME * 1500  # 30 s
    for start in range(0, frames * FRAME, step):
        block = audio.read(start, min(start + step, frames * FRAME))
        energy = np.mean(np.square(block.reshape(-1, FRAME), dtype=np.float64), axis=1)
        levels.append(10.0 * np.log10(energy + 1e-10))
    level = np.concatenate(levels)
    return float(np.percentile(level, 95) - np.percentile(level, 10))


def mixed(audio: np.ndarray, clean: np.ndarray, ratio: float) -> np.ndarray:
    """The cleaned note with ``ratio`` of the untouched one added back (what the ``mix`` strategy hears)."""
    return ((1 - ratio) * clean + ratio * audio).astype(np.float32)


def auto_hears(audio: np.ndarray | Signal) -> str:
    """What the ``auto`` strategy lets Whisper hear: ``mix`` for a noisy note, ``original`` for a clear one."""
    return "mix" if level_range_db(audio) < AUTO_MIX_BELOW_DB else "original"


def surer(original: Transcript, denoised: Transcript) -> tuple[Transcript, str]:
    """The ``best`` strategy's pick: the transcript Whisper is more confident in (mean log-probability)."""
    if denoised.avg_logprob > original.avg_logprob:
        return denoised, "denoised"
    return original, "original"


def planned_hearing(options: PipelineOptions, audio: np.ndarray | Signal) -> str:
    """What Whisper will hear of a note (``audio``, the untouched note at 16 kHz): ``options.strategy`` with
    ``auto`` decided (``auto_hears``), and ``original`` when nothing is denoised."""
    if not options.denoise:
        return "original"
    return auto_hears(audio) if options.strategy == "auto" else options.strategy
