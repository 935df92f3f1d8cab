"""Speed of the pipeline per stage on noisy dev speech (10 s, 30 s, 120 s), cold start, and peak memory
of a 60-minute note (in a child process, so its peak RSS is its own).

    python -m bench.latency [--whisper base] [--denoiser rnnoise] [--long-minutes 60] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import markdown_table, record
from core.settings import load_settings
from ml.audio import encode_voice
from ml.pipeline import Pipeline
from testkit.speech import noisy_speech
from voicebot import wiring


def long_note(minutes: float, path: Path) -> None:
    """A note of ``minutes`` made by repeating 2 minutes of noisy dev speech, encoded as OGG/Opus."""
    piece, _, _ = noisy_speech(120.0, snr_db=5.0)
    audio = np.resize(piece, int(minutes * 60 * 16_000))
    path.write_bytes(encode_voice(audio))


def child_long(args: argparse.Namespace) -> None:
    """Run in a child process: the whole pipeline on a long note, then print timings and peak RSS."""
    settings = load_settings(whisper_threads=args.threads)
    cache = wiring.model_cache(settings)
    pipeline = Pipeline(cache.denoiser(args.denoiser), cache.transcriber(args.whisper))
    started = time.perf_counter()
    result = pipeline.process(args.child_long, wiring.pipeline_options(settings, max_duration_s=None))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"duration_s": result.duration_s, "wall_s": time.perf_counter() - started,
                      "timings_ms": result.timings_ms, "peak_rss_mb": peak_mb}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--denoiser", default="deepfilternet3-vn1")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lengths", default="10,30,120", help='comma-separated seconds; "" for none')
    parser.add_argument("--long-minutes", type=float, default=60.0, help="0 to skip the long note")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--child-long", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_long:
        child_long(args)
        return

    started = time.perf_counter()
    settings = load_settings(whisper_threads=args.threads)
    cache = wiring.model_cache(settings)
    denoiser, transcriber = cache.denoiser(args.denoiser), cache.transcriber(args.whisper)
    cold_s = time.perf_counter() - started
    pipeline = Pipeline(denoiser, transcriber)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in (float(s) for s in args.lengths.split(",") if s):
            noisy, _, _ = noisy_speech(seconds, snr_db=5.0)
            note = Path(tmp) / f"note_{seconds:.0f}.ogg"
            note.write_bytes(encode_voice(noisy))
            best: dict[str, float] | None = None
            for _ in range(args.repeats):
                result = pipeline.process(note, wiring.pipeline_options(settings))
                if best is None or result.timings_ms["total"] < best["total"]:
                    best = result.timings_ms
            assert best is not None
            total_s = best["total"] / 1000
            duration = result.duration_s
            rows.append([f"{duration:.1f}", *(f"{best[k]:.0f}" for k in ("decode", "denoise", "transcribe",
                         "encode")), f"{total_s:.2f}", f"{total_s / duration:.3f}"])  # fmt: skip
        long_line = ""
        if args.long_minutes:
            note = Path(tmp) / "long.ogg"
            long_note(args.long_minutes, note)
            out = subprocess.run(
                [sys.executable, "-m", "bench.latency", "--child-long", str(note), "--whisper", args.whisper,
                 "--denoiser", args.denoiser, "--threads", str(args.threads)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            data = json.loads(out.stdout.strip().splitlines()[-1])
            t = data["timings_ms"]
            long_line = (
                f"{args.long_minutes:.0f}-minute note, whole pipeline in one process: peak RSS "
                f"**{data['peak_rss_mb']:.0f} MB**, wall {data['wall_s']:.0f} s (decode {t['decode'] / 1000:.0f} s, "
                f"denoise {t['denoise'] / 1000:.0f} s, transcribe {t['transcribe'] / 1000:.0f} s, "
                f"encode {t['encode'] / 1000:.0f} s), RTF {data['wall_s'] / data['duration_s']:.3f}."
            )
    table = markdown_table(["audio s", "decode ms", "denoise ms", "transcribe ms", "encode ms", "total s", "RTF"], rows)
    notes = (
        f"Denoiser `{args.denoiser}` (strength strong), Whisper `{args.whisper}` int8, {args.threads} threads, "
        f"beam 5, strategy `auto`, loudness normalised; noisy dev speech (kitchen noise, 5 dB SNR) as OGG/Opus; "
        f"best of {args.repeats} runs; model load (cold start) {cold_s:.1f} s, not counted. Total is the wall time "
        f"of the whole note: transcription runs beside denoising (when Whisper hears the untouched note) or beside "
        f"encoding, so the stages add up to more than it.\n\n{long_line}"
    )
    record(f"Pipeline latency ({args.denoiser} + whisper {args.whisper})", table, notes, write=not args.no_record)


if __name__ == "__main__":
    main()
