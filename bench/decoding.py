"""Whisper decoding defaults by measurement: beam size, VAD and int8 vs float32 weights, on English dev speech,
clean and mixed with held-out noise. WER and speed of each configuration in one table.

    python -m bench.decoding [--whisper base] [--snrs clean,10,5] [--limit 40] [--threads 2]
                             [--configs int8:1:off,int8:2:off,int8:5:off,int8:1:on,int8:2:on,int8:5:on,...]
                             [--no-record]

A configuration is ``compute:beam:vad``. Every note is transcribed by every configuration in turn (rather
than one configuration after another), so that a change in the machine's load during the run falls on all
of them alike.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench.common import markdown_table, record
from bench.wer import dev_mixtures
from core.settings import load_settings
from ml.transcriber import SAMPLE_RATE, Transcriber
from ml.wer import corpus_wer
from voicebot import wiring

DEFAULT_CONFIGS = (
    "int8:1:off,int8:2:off,int8:5:off,int8:1:on,int8:2:on,int8:5:on,float32:1:off,float32:5:off"
)  # fmt: skip


def parse_configs(text: str) -> list[tuple[str, int, bool]]:
    """``compute:beam:vad,…`` → [(compute type, beam size, VAD on)]."""
    configs = []
    for item in text.split(","):
        compute, beam, vad = item.split(":")
        if vad not in ("on", "off"):
            raise SystemExit(f"VAD must be on or off in {item!r}")
        configs.append((compute, int(beam), vad == "on"))
    return configs


def conditions(snrs: str, limit: int) -> dict[str, list[tuple[np.ndarray, str]]]:
    """Condition name → [(audio, reference)]: ``clean`` is the dev speech itself, a number an SNR in dB."""
    out = {}
    for snr in snrs.split(","):
        if snr == "clean":
            out["clean"] = [(clean, text) for _, clean, text in dev_mixtures(100.0, limit)]
        else:
            out[f"{float(snr):g} dB"] = [(noisy, text) for noisy, _, text in dev_mixtures(float(snr), limit)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--snrs", default="clean,10,5")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    configs = parse_configs(args.configs)
    models: dict[str, Transcriber] = {}
    for compute in dict.fromkeys(c for c, _, _ in configs):
        models[compute] = wiring.model_cache(
            load_settings(whisper_threads=args.threads, whisper_compute_type=compute)
        ).transcriber(args.whisper)
    data = conditions(args.snrs, args.limit)
    first = next(iter(data.values()))[0][0]
    for model in models.values():  # warm up: the first call pays for allocations
        model.transcribe(first, language="en")

    hyps = {c: {name: [] for name in data} for c in configs}
    wall = dict.fromkeys(configs, 0.0)
    cpu = dict.fromkeys(configs, 0.0)
    audio_s = 0.0
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for name, items in data.items():
        for index, (audio, _) in enumerate(items):
            audio_s += audio.size / SAMPLE_RATE
            for config in configs:
                compute, beam, vad = config
                w, c = time.perf_counter(), time.process_time()
                text = models[compute].transcribe(audio, language="en", beam_size=beam, vad=vad).text
                wall[config] += time.perf_counter() - w
                cpu[config] += time.process_time() - c
                hyps[config][name].append(text)
            print(f"{name} {index + 1}/{len(items)} ({time.perf_counter() - started:.0f} s)", flush=True)
    load_after = os.getloadavg()[0]

    rows = []
    for config in configs:
        compute, beam, vad = config
        wers = [corpus_wer([t for _, t in items], hyps[config][name]) for name, items in data.items()]
        row: list[object] = [compute, beam, "on" if vad else "off", *wers, float(np.mean(wers))]
        rows.append([*row, wall[config] / audio_s, cpu[config] / audio_s])
        print(dict(zip(["compute", "beam", "vad", *data, "mean", "rtf", "cpu"], rows[-1], strict=True)))
    header = ["weights", "beam", "VAD", *(f"WER {name}" for name in data), "WER mean"]
    table = markdown_table([*header, "RTF (wall)", "CPU s per audio s"], rows)
    notes = (
        f"Whisper `{args.whisper}` through `Transcriber` (CTranslate2 on the CPU, {args.threads} threads), "
        f"language fixed to English, no temperature change (faster-whisper's fallback on); {args.limit} "
        "utterances of `shared/data/speech/dev` (LibriSpeech test-other, 7.6 s on average), clean and mixed "
        "with the held-out `noise/dev` recordings as in `bench.wer`; corpus WER after `ml.wer.normalize_text`. "
        f"RTF = wall-clock seconds of transcription per second of audio ({audio_s / len(configs) / 60:.1f} "
        "minutes of audio per configuration, every configuration run on each note in turn); CPU s per audio s "
        "counts both threads. VAD = faster-whisper's Silero `vad_filter`. Load average (1 min) "
        f"{load_before:.1f} at the start, {load_after:.1f} at the end."
    )
    record(
        f"Whisper decoding defaults: beam, VAD, int8 vs float32 (whisper {args.whisper})",
        table,
        notes,
        write=not args.no_record,
    )


if __name__ == "__main__":
    main()
