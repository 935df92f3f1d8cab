"""Transcript accuracy: WER of Whisper on dev speech mixed with held-out noise at several SNRs, for clean
speech, the untouched noisy note, and each denoiser × transcription strategy. Writes a table and a plot.

    python -m bench.wer [--whisper base] [--denoisers rnnoise] [--snrs 0,5,10,20] [--limit 40]
                        [--mix-ratios 0.2,0.3,0.5] [--no-record]

``--mix-ratios`` adds a column per share of the untouched note added back (the ``mix`` column is the pipeline's).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.common import ROOT, markdown_table, record
from core.settings import load_settings
from ml.audio import SAMPLE_RATE, decode_audio
from ml.data.synth import mix_at_snr
from ml.denoisers import enhance
from ml.paths import default_shared, dev_transcripts
from ml.pipeline import AUTO_MIX_BELOW_DB, PipelineOptions, auto_hears, level_range_db, mixed, surer
from ml.strategies import STRATEGIES
from ml.wer import corpus_wer
from voicebot import wiring

PLOTS = ROOT / "bench" / "plots"
# every strategy but the untouched note, which is one column whatever the denoiser
WITH_DENOISER = tuple(s for s in STRATEGIES if s != "original")


def dev_mixtures(snr_db: float, limit: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(noisy, clean, reference) per dev utterance; noise from the held-out dev noise files, in turn."""
    rng = np.random.default_rng(seed)
    noises = [decode_audio(p) for p in sorted((default_shared() / "data" / "noise" / "dev").glob("*/*.flac"))]
    items = []
    for index, (name, text) in enumerate(sorted(dev_transcripts().items())[:limit]):
        clean = decode_audio(default_shared() / "data" / "speech" / "dev" / name)
        noise = noises[index % len(noises)]
        start = int(rng.integers(0, max(1, noise.size - clean.size)))
        piece = np.resize(noise[start:], clean.size)
        items.append((mix_at_snr(clean, piece, snr_db), clean, text))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--denoisers", default="rnnoise")
    parser.add_argument("--snrs", default="0,5,10,20")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--mix-ratios", default="", help="more mix columns: shares of the untouched note, e.g. 0.2,0.5")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    cache = wiring.model_cache(load_settings(whisper_threads=2))
    transcriber = cache.transcriber(args.whisper)
    options = PipelineOptions(language="en", beam_size=args.beam)
    snrs = [float(s) for s in args.snrs.split(",")]
    ratios = [float(r) for r in args.mix_ratios.split(",") if r]
    columns = ["original"] + [
        f"{d} {s}" for d in args.denoisers.split(",") for s in [*WITH_DENOISER, *(f"mix {r:g}" for r in ratios)]
    ]
    results: dict[str, list[float]] = {c: [] for c in columns}

    clean_items = dev_mixtures(100.0, args.limit)
    references = [text for _, _, text in clean_items]
    clean_hyps = [transcriber.transcribe(clean, language="en", beam_size=args.beam).text for _, clean, _ in clean_items]
    clean_wer = corpus_wer(references, clean_hyps)
    rows = []
    shares = []
    for snr in snrs:
        items = dev_mixtures(snr, args.limit)
        shares.append(f"{snr:g} dB {np.mean([level_range_db(noisy) < AUTO_MIX_BELOW_DB for noisy, _, _ in items]):.0%}")
        hyps: dict[str, list[str]] = {c: [] for c in columns}
        originals = [transcriber.transcribe(noisy, language="en", beam_size=args.beam) for noisy, _, _ in items]
        hyps["original"] = [t.text for t in originals]
        for name in args.denoisers.split(","):
            denoiser = cache.denoiser(name)
            for (noisy, _, _), original in zip(items, originals, strict=True):
                cleaned = enhance(denoiser, noisy, SAMPLE_RATE)
                # each strategy's audio transcribed once; best and auto pick among those transcripts exactly as
                # ml.pipeline.Pipeline.process does (tests/ml/test_pipeline.py checks that path)
                denoised = transcriber.transcribe(cleaned, language="en", beam_size=args.beam)
                mix = transcriber.transcribe(
                    mixed(noisy, cleaned, options.mix_ratio), language="en", beam_size=args.beam
                )
                picked = {"denoised": denoised, "mix": mix, "best": surer(original, denoised)[0]}
                picked["auto"] = mix if auto_hears(noisy) == "mix" else original
                for ratio in ratios:
                    picked[f"mix {ratio:g}"] = (
                        mix
                        if ratio == options.mix_ratio
                        else transcriber.transcribe(mixed(noisy, cleaned, ratio), language="en", beam_size=args.beam)
                    )
                for strategy in picked:
                    hyps[f"{name} {strategy}"].append(picked[strategy].text)
        row: list[object] = [f"{snr:.0f}", clean_wer]
        for column in columns:
            value = corpus_wer(references, hyps[column])
            results[column].append(value)
            row.append(value)
        rows.append(row)
        print(dict(zip(["snr", "clean", *columns], row, strict=True)))
    table = markdown_table(["SNR dB", "clean speech", *columns], rows)
    mixed_share = ", ".join(shares)
    plot = None if args.no_record else _plot(snrs, clean_wer, results, args.whisper)
    notes = (
        f"Whisper `{args.whisper}` int8, beam {args.beam}, language fixed to English; {args.limit} utterances of "
        "`shared/data/speech/dev` (LibriSpeech test-other), each mixed with one of the 7 held-out `noise/dev` "
        "recordings; corpus WER after normalisation (lower case, no punctuation, abbreviations spelled out). "
        "`best` keeps whichever of original/denoised Whisper is more confident in (mean log-probability); "
        f"`mix` adds {options.mix_ratio:g} of the original back; `auto` is `mix` when the note's level range "
        f"(95th over 10th percentile of 20-ms frame energies) is under {AUTO_MIX_BELOW_DB:g} dB, else `original` "
        f"(share of notes mixed per SNR: {mixed_share})." + (f" Plot: `{plot.relative_to(ROOT)}`." if plot else "")
    )
    record(f"Transcript WER by SNR and strategy (whisper {args.whisper})", table, notes, write=not args.no_record)


def _plot(snrs: list[float], clean: float, results: dict[str, list[float]], whisper: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, values in results.items():
        axes.plot(snrs, values, marker="o", label=name)
    axes.axhline(clean, color="black", linestyle="--", label="clean speech")
    axes.set_xlabel("SNR (dB)")
    axes.set_ylabel("WER")
    axes.set_title(f"Whisper {whisper}: WER on noisy dev speech")
    axes.legend()
    axes.grid(alpha=0.3)
    path = PLOTS / f"wer_by_snr_{whisper}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


if __name__ == "__main__":
    main()
