"""Peak memory of the whole pipeline on long notes, as the user runs it: ``voicebot process NOTE --max-duration 0``
in a child process per note, its peak RSS taken from the kernel when it exits (``os.wait4``: the child's own
``ru_maxrss``, what ``getrusage(RUSAGE_CHILDREN)`` reports after one child), with its wall time, RTF and the
transcript's length and reach.

    python -m bench.memory [--minutes 60,180] [--no-record]

``--per-stage`` measures each stage instead, each in its own child process on the note decoded whole into an
array (so each peak is its own): decode (48 kHz), denoise (DeepFilterNet3 and RNNoise at 48 kHz, a
Demucs-architecture network at 16 kHz in overlapping chunks), transcribe (16 kHz), encode (48 kHz).

    python -m bench.memory --per-stage [--minutes 60] [--whisper base] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import os
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


def noisy_long_note(minutes: float, path: Path) -> None:
    """``bench.latency.long_note`` written in pieces: 2 minutes of noisy dev speech (kitchen noise, 5 dB SNR)
    repeated, encoded as OGG/Opus a piece at a time, so a 3-hour note never is in memory whole."""
    from ml.audio import encode_voice_blocks
    from testkit.speech import noisy_speech

    piece, _, _ = noisy_speech(120.0, snr_db=5.0)
    total = int(minutes * 60 * 16_000)
    pieces = (piece[: min(piece.size, total - start)] for start in range(0, total, piece.size))
    path.write_bytes(encode_voice_blocks(pieces, sample_rate=16_000))


def run_process(note: Path, out_dir: Path) -> dict:
    """``voicebot process`` on one note in a child process: its peak RSS (MB), wall time and result."""
    command = [sys.executable, "-m", "voicebot", "process", str(note), "--out-dir", str(out_dir)]
    command += ["--max-duration", "0", "-q"]
    started = time.perf_counter()
    with (out_dir / "stderr.log").open("w") as log:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"voicebot process failed ({child.returncode}): {(out_dir / 'stderr.log').read_text()}")
    return {
        "peak_mb": usage.ru_maxrss / 1024,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "result": json.loads((out_dir / f"{note.stem}.json").read_text()),
    }


def pipeline_main(args: argparse.Namespace) -> None:
    rows = []
    settings = {}
    for minutes in (float(m) for m in args.minutes.split(",")):
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            note, out_dir = Path(tmp) / f"noisy_{minutes:g}min.ogg", Path(tmp) / "out"
            out_dir.mkdir()
            noisy_long_note(minutes, note)
            data = run_process(note, out_dir)
        result = data["result"]
        settings = result["models"]
        words = len(result["text"].split())
        last_end = result["segments"][-1]["end"] / 60 if result["segments"] else 0.0
        rtf = data["wall_s"] / result["duration_s"]
        rows.append([f"{minutes:g}", f"{data['peak_mb']:.0f}", f"{data['wall_s']:.0f}", f"{rtf:.3f}",
                     f"{data['cpu_s']:.0f}", words, f"{last_end:.1f}"])  # fmt: skip
        print(rows[-1], flush=True)
    table = markdown_table(
        ["minutes", "peak RSS, MB", "wall s", "RTF", "CPU s", "transcript words", "last segment ends, min"], rows
    )
    notes = (
        "`voicebot process NOTE --out-dir DIR --max-duration 0 -q` in a fresh child process per note, on default "
        f"settings (denoiser `{settings.get('denoiser')}`, strength strong, Whisper `{settings.get('whisper')}` "
        "int8, strategy `auto`); the note is 2 minutes of noisy dev speech (kitchen noise, 5 dB SNR) repeated, as "
        "OGG/Opus. Peak RSS is the child's `ru_maxrss` from `os.wait4`; wall time includes loading the models; CPU s "
        "is the child's user + system time (up to twice the wall time on 2 cores; other work on the machine shows "
        "as wall time beyond it). "
        "The pipeline streams: the note's signals go to spools (temporary files) and are read a block or a "
        "Whisper window at a time."
    )
    record("Peak memory of long notes through `voicebot process`", table, notes, write=not args.no_record)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", default=None, help="comma-separated (default 60,180; 60 with --per-stage)")
    parser.add_argument("--per-stage", action="store_true", help="each stage on its own, on a decoded array")
    parser.add_argument("--whisper", default="base", help="for --per-stage")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--tmp", default=None, help="where the notes and outputs are written")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.whisper)
        return
    if not args.per_stage:
        args.minutes = args.minutes or "60,180"
        pipeline_main(args)
        return
    from bench.latency import long_note

    minutes = float(args.minutes or 60)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        note = Path(tmp) / "long.ogg"
        long_note(minutes, note)
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
        f"One {minutes:.0f}-minute note (noisy dev speech repeated), each stage in a fresh process that first "
        f"decodes the note; `demucs` is an untrained Demucs H=48 (the published dns48 shape) in 10-s chunks with "
        f"0.5-s cross-fades; `transcribe` is Whisper `{args.whisper}` int8 in 5-minute windows. Peak RSS includes "
        "the decoded note (about 230 MB per hour at 16 kHz, 690 MB at 48 kHz) and the loaded libraries."
    )
    record(f"Peak memory per stage on a {minutes:.0f}-minute note", table, notes, write=not args.no_record)


if __name__ == "__main__":
    main()
