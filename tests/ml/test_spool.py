"""Long notes in flat memory: spools, the streamed forms of each stage, and the pipeline's memory on a long note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from ml.audio import (
    FULL_BAND_RATE,
    SAMPLE_RATE,
    decode_audio,
    decode_blocks,
    encode_voice,
    encode_voice_blocks,
    resample,
    resample_blocks,
)
from ml.denoisers import PassThrough, RNNoiseDenoiser, enhance, enhance_stream
from ml.errors import EmptyAudio, NoSpeech, TooLong, UnsupportedAudio
from ml.loudness import LoudnessMeter, integrated_lufs, limit_peaks, limited_blocks, normalize_voice
from ml.pipeline import Pipeline, PipelineOptions, level_range_db
from ml.spool import Mixed, Samples, Scaled, Spool, blocks, read_all, workspace
from ml.transcriber import Segment, Transcript, windows
from testkit.speech import noisy_speech

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def note48() -> np.ndarray:
    noisy, _, _ = noisy_speech(12.0, snr_db=5.0)
    return resample(noisy, SAMPLE_RATE, FULL_BAND_RATE)


def test_a_spool_gives_back_any_range_of_what_was_appended(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(100_003).astype(np.float32)
    with Spool(FULL_BAND_RATE, tmp_path) as spool:
        for start in range(0, audio.size, 7_777):
            spool.append(audio[start : start + 7_777])
        assert spool.size == audio.size
        np.testing.assert_array_equal(spool.read(0, spool.size), audio)
        np.testing.assert_array_equal(spool.read(5_000, 5_010), audio[5_000:5_010])
        assert spool.read(audio.size - 3, audio.size + 100).size == 3 and spool.read(10, 10).size == 0
        np.testing.assert_array_equal(np.concatenate(list(blocks(spool, 1_000))), audio)
        np.testing.assert_array_equal(Scaled(spool, 2.0).read(0, 50), audio[:50] * np.float32(2.0))
        assert list(tmp_path.iterdir()) == []  # anonymous: no name in the directory even while open
    assert spool.closed


def test_the_workspace_is_private_and_gone_after_an_error() -> None:
    with pytest.raises(RuntimeError), workspace() as directory:
        assert oct(directory.stat().st_mode & 0o777) == "0o700"
        spool = Spool(SAMPLE_RATE, directory)
        spool.append(np.ones(1000, np.float32))
        (directory / "left.tmp").write_bytes(b"x")
        raise RuntimeError("the note failed")
    assert not directory.exists()


class Reading:
    """A stand-in for Whisper that reads the note a window at a time and says a word per window."""

    version = "reading"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def transcribe(self, audio, **options) -> Transcript:  # type: ignore[no-untyped-def]
        segments = []
        for start, end in windows(audio):
            self.sizes.append(audio.read(start, end).size)
            segments.append(Segment(start / SAMPLE_RATE, end / SAMPLE_RATE, "word", -0.1, 0.0))
        return Transcript("word " * len(segments), "en", 1.0, segments)


def test_the_pipeline_leaves_no_files_after_a_note_or_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: list[list[str]] = []

    def look(stage: str) -> None:
        seen.append(sorted(p.name for p in tmp_path.iterdir()))

    speech = encode_voice(noisy_speech(5.0)[0])
    pipeline = Pipeline(PassThrough(), Reading())  # type: ignore[arg-type]
    assert pipeline.process(speech, PipelineOptions(language="en"), on_stage=look).transcript.text
    assert len(seen) == 4 and all(len(names) == 1 and names[0].startswith("voicebot-") for names in seen)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NoSpeech):
        pipeline.process(encode_voice(np.zeros(SAMPLE_RATE * 3, np.float32)), PipelineOptions())
    with pytest.raises(TooLong):
        pipeline.process(speech, PipelineOptions(max_duration_s=1.0))

    def fail(stage: str) -> None:
        if stage == "encoding":
            raise RuntimeError("the worker is stopping")

    with pytest.raises(RuntimeError):
        pipeline.process(speech, PipelineOptions(language="en"), on_stage=fail)
    assert list(tmp_path.iterdir()) == []


def test_decoding_in_blocks_gives_the_same_samples_and_errors(tmp_path: Path) -> None:
    ogg = encode_voice(noisy_speech(6.0)[0])
    whole = decode_audio(ogg, sample_rate=FULL_BAND_RATE)
    pieces = list(decode_blocks(ogg, sample_rate=FULL_BAND_RATE, block=50_000))
    assert len(pieces) > 3
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    with pytest.raises(TooLong):
        for _ in decode_blocks(ogg, sample_rate=FULL_BAND_RATE, max_duration_s=2.0, block=10_000):
            pass
    with pytest.raises(EmptyAudio):
        next(decode_blocks(b""))
    with pytest.raises(UnsupportedAudio):
        next(decode_blocks(b"not audio at all" * 100))


def test_streamed_resampling_loudness_limiting_and_encoding_match_the_whole_forms(note48: np.ndarray) -> None:
    pieces = [note48[i : i + 33_333] for i in range(0, note48.size, 33_333)]
    np.testing.assert_array_equal(
        np.concatenate(list(resample_blocks(pieces, FULL_BAND_RATE, SAMPLE_RATE))),
        resample(note48, FULL_BAND_RATE, SAMPLE_RATE),
    )
    meter = LoudnessMeter(FULL_BAND_RATE)
    for piece in pieces:
        meter.add(piece)
    reference = pyloudnorm.Meter(FULL_BAND_RATE).integrated_loudness(note48.astype(np.float64))
    assert meter.lufs() == pytest.approx(integrated_lufs(note48, FULL_BAND_RATE), abs=1e-9)
    assert meter.lufs() == pytest.approx(reference, abs=0.01)
    loud = note48 * np.float32(8.0)
    np.testing.assert_array_equal(
        np.concatenate(list(limited_blocks(Samples(loud, FULL_BAND_RATE), gain_db=3.0))),
        limit_peaks(loud, FULL_BAND_RATE, gain_db=3.0),
    )
    normalized, _ = normalize_voice(note48, FULL_BAND_RATE)
    pieces = [normalized[i : i + 70_001] for i in range(0, normalized.size, 70_001)]
    voice = encode_voice_blocks(pieces, sample_rate=FULL_BAND_RATE)  # the same frames: the same Opus packets
    np.testing.assert_array_equal(
        decode_audio(voice, sample_rate=FULL_BAND_RATE),
        decode_audio(encode_voice(normalized, sample_rate=FULL_BAND_RATE), sample_rate=FULL_BAND_RATE),
    )
    speech = resample(note48, FULL_BAND_RATE, SAMPLE_RATE)
    assert level_range_db(Samples(speech, SAMPLE_RATE)) == pytest.approx(level_range_db(speech), abs=1e-9)
    mix = Mixed(Samples(speech, SAMPLE_RATE), Samples(speech * 0.5, SAMPLE_RATE), 0.25)
    np.testing.assert_allclose(read_all(mix), 0.75 * 0.5 * speech + 0.25 * speech, atol=1e-7)


def test_denoisers_stream_the_same_samples(note48: np.ndarray) -> None:
    rnnoise = RNNoiseDenoiser()
    for limit_db in (None, 20.0):
        streamed = np.concatenate(list(enhance_stream(rnnoise, Samples(note48, FULL_BAND_RATE), limit_db=limit_db)))
        np.testing.assert_array_equal(streamed, enhance(rnnoise, note48, FULL_BAND_RATE, limit_db=limit_db))


class Smoothing:
    """A 16-kHz "denoiser" without a stream: a moving average scaled by the whole input's level, so that pieces
    differ a little from the whole, as a network's output does."""

    sample_rate = SAMPLE_RATE
    version = "smoothing"

    def __call__(self, audio: np.ndarray, progress=None, *, limit_db=None) -> np.ndarray:  # type: ignore[no-untyped-def]
        smooth = np.convolve(audio, np.ones(9, np.float32) / 9, mode="same").astype(np.float32)
        return smooth * np.float32(1.0 + 0.01 * np.tanh(audio.std()))


def test_a_denoiser_that_cannot_stream_runs_in_cross_faded_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ml.denoisers.CHUNK_S", 3.0)
    monkeypatch.setattr("ml.denoisers.CHUNK_MARGIN_S", 0.5)
    noisy, _, _ = noisy_speech(10.0)
    audio = resample(noisy, SAMPLE_RATE, FULL_BAND_RATE)
    whole = enhance(Smoothing(), audio, FULL_BAND_RATE)
    pieces = list(enhance_stream(Smoothing(), Samples(audio, FULL_BAND_RATE)))
    assert len(pieces) >= 3
    streamed = np.concatenate(pieces)
    assert streamed.shape == whole.shape
    error_db = 20 * np.log10(np.std(streamed - whole) / np.std(whole))
    assert error_db < -30, error_db  # only the pieces' levels differ; no clicks at the joins
    short = audio[: FULL_BAND_RATE * 3]  # one piece: exactly enhance's output
    np.testing.assert_array_equal(
        np.concatenate(list(enhance_stream(Smoothing(), Samples(short, FULL_BAND_RATE)))),
        enhance(Smoothing(), short, FULL_BAND_RATE),
    )


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    import ml.transcriber
    from ml.denoisers import PassThrough
    from ml.pipeline import Pipeline, PipelineOptions
    from ml.transcriber import Segment, Transcript, windows

    ml.transcriber.WINDOW_S = 60  # the same window for both notes: what is measured is the rest of the pipeline

    class Reading:
        version = "reading"

        def transcribe(self, audio, **options):
            segments = []
            for start, end in windows(audio, 60):
                audio.read(start, end)
                segments.append(Segment(start / 16000, end / 16000, "word", -0.1, 0.0))
            return Transcript("word " * len(segments), "en", 1.0, segments)

    pipeline = Pipeline(PassThrough(), Reading())  # still spools a cleaned copy: strength is not off
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = pipeline.process(sys.argv[1], PipelineOptions(strategy="mix", language="en"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_mb": (peak - before) / 1024, "duration_s": result.duration_s}))
    """
)


@pytest.mark.slow
def test_a_long_note_needs_no_more_memory_than_a_short_one(tmp_path: Path) -> None:
    """The pipeline's peak RSS (each note in a fresh process, models loaded first) grows no more for a 4-minute
    note than for a 1-minute one, give or take a little: each 48-kHz copy of the note held whole would add 35 MB
    for the 3 minutes more (the pipeline used to hold four)."""
    piece, _, _ = noisy_speech(60.0, snr_db=5.0)
    growth = {}
    for count in (1, 4):
        path = tmp_path / f"{count}.ogg"
        path.write_bytes(encode_voice_blocks([piece] * count))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, cwd=ROOT, env=env, check=True
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        assert data["duration_s"] == pytest.approx(count * piece.size / SAMPLE_RATE, abs=0.1)
        growth[count] = data["growth_mb"]
    assert growth[4] < growth[1] + 20, growth  # RNNoise and DeepFilterNet3 stream the same samples (tests above)
