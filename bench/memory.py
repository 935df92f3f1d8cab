"""Peak memory of each stage on a long note, each stage in its own child process (so each peak is its own):
decode (48 kHz), denoise (DeepFilterNet3 and RNNoise at 48 kHz, a Demucs-architecture network at 16 kHz in
overlapping chunks), transcribe (16 kHz), encode (48 kHz).

    python -m bench.memory [--minutes 60] [--whisper base] [--no-record]
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

from bench.common import markdown_table, record

STAGES = ("decode", "deepfilternet3", "rnnoise", "demucs", "transcribe", "encode")
FULL_BAND_STAGES = ("decode", "deepfilternet3", "rnnoise", "encode")


def child(stage: str, note: Path, whisper: str) -> None:
    """Run one stage on the note and print its wall time and this process's peak RSS."""
    from ml.audio import FULL_BAND_RATE, SAMPLE_RATE, decode_audio, encode_voice

    rate = FULL_BAND_RATE if stage in FULL_BAND_STAGES else SAMPLE_RATE
    audio = decode_audio(note, sample_rate=rate)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if stage == "deepfilternet3":
        from ml.denoisers import DeepFilterNet3Denoiser

        DeepFilterNet3Denoiser(threads=2)(audio)
    elif stage == "rnnoise":
        from ml.denoisers import RNNoiseDenoiser

        RNNoiseDenoiser()(audio)
    elif stage == "demucs":
        import torch

        from ml.denoisers import TorchDenoiser
        from ml.models.demucs import Demucs

        torch.manual_seed(0)
        TorchDenoiser(Demucs(hidden=48), version="demucs-h48-untrained")(audio)
    elif stage == "transcribe":
        from core.settings import load_settings
        from voicebot import wiring

        cache = wiring.model_cache(load_settings())
        cache.transcriber(whisper).transcribe(audio, language="en")
    elif stage == "encode":
        encode_voice(audio, sample_rate=rate)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"stage": stage, "wall_s": time.perf_counter() - started, "peak_mb": peak,
                      "after_decode_mb": baseline, "audio_s": audio.size / rate}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.whisper)
        return
    from bench.latency import long_note

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        note = Path(tmp) / "long.ogg"
        long_note(args.minutes, note)
        for stage in args.stages.split(","):
            out = subprocess.run(
                [sys.executable, "-m", "bench.memory", "--child", stage, str(note), "--whisper", args.whisper],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            data = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append([stage, f"{data['after_decode_mb']:.0f}", f"{data['peak_mb']:.0f}",
                         f"{data['wall_s']:.0f}", f"{data['wall_s'] / data['audio_s']:.3f}"])  # fmt: skip
            print(rows[-1], flush=True)
    table = markdown_table(["stage", "RSS after decoding, MB", "peak RSS, MB", "wall s", "RTF"], rows)
    notes = (
        f"One {args.minutes:.0f}-minute note (noisy dev speech repeated), each stage in a fresh process that first "
        f"decodes the note; `demucs` is an untrained Demucs H=48 (the published dns48 shape) in 10-s chunks with "
        f"0.5-s cross-fades; `transcribe` is Whisper `{args.whisper}` int8 in 5-minute windows. Peak RSS includes "
        "the decoded note (about 230 MB per hour at 16 kHz, 690 MB at 48 kHz) and the loaded libraries."
    )
    record(f"Peak memory per stage on a {args.minutes:.0f}-minute note", table, notes, write=not args.no_record)


if __name__ == "__main__":
    main()
