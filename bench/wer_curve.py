"""A training run's WER curve: Whisper's word error rate on what each checkpoint's denoiser makes of noisy dev
speech, beside Whisper on the untouched notes and on a shipped denoiser's output.

    python -m bench.wer_curve CHECKPOINT... [--baseline deepfilternet3-vn1] [--snrs 0,5,10] [--limit 20]
                              [--whisper base] [--mix 0.3] [--note "..."] [--no-record]

Each checkpoint (``runs/<name>/checkpoints/*.ckpt``, or copies of ``last.ckpt`` taken as the run went) is exported
as ``ml export`` would ship it, to a temporary folder, and runs through the same code as a shipped version. The
mixtures are ``bench.wer``'s (dev speech, held-out dev noise); Whisper hears the denoised audio alone (the
``denoised`` strategy), which is what a recogniser-aware loss changes, or with ``--mix`` that share of the untouched
note added back (the ``mix`` strategy, what a run trained with ``whisper_feature_mix`` is judged on).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench.common import markdown_table, record
from bench.wer import dev_mixtures
from ml.audio import SAMPLE_RATE
from ml.checkpoint import read_checkpoint
from ml.denoisers import Denoiser, enhance
from ml.export import export
from ml.loader import ModelCache
from ml.paths import PathSettings
from ml.pipeline import mixed
from ml.registry import WEIGHTS_DIR, Registry
from ml.transcriber import Transcriber
from ml.wer import corpus_wer


def step_of(checkpoint: Path) -> int:
    """The training step a Lightning checkpoint was saved at."""
    return int(read_checkpoint(checkpoint).get("global_step", -1))


def wer_row(
    transcriber: Transcriber,
    items_by_snr: dict[float, list[tuple[np.ndarray, np.ndarray, str]]],
    denoiser: Denoiser | None,
    beam: int,
    mix: float = 0.0,
) -> list[float]:
    """Corpus WER at each SNR of Whisper on ``denoiser``'s output with ``mix`` of the untouched mixture added back
    (None: on the untouched mixtures)."""
    row = []
    for items in items_by_snr.values():
        references = [text for _, _, text in items]
        heard = [
            noisy if denoiser is None else mixed(noisy, enhance(denoiser, noisy, SAMPLE_RATE), mix)
            for noisy, _, _ in items
        ]
        hyps = [transcriber.transcribe(audio, language="en", beam_size=beam).text for audio in heard]
        row.append(corpus_wer(references, hyps))
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--baseline", default="deepfilternet3-vn1", help="a shipped denoiser, for comparison")
    parser.add_argument("--snrs", default="0,5,10")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--whisper", default="base")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--mix", type=float, default=0.0, help="share of the untouched note added back (0: none)")
    parser.add_argument("--note", default="", help="a sentence on the run")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)

    snrs = [float(s) for s in args.snrs.split(",")]
    items_by_snr = {snr: dev_mixtures(snr, args.limit) for snr in snrs}
    checkpoints = sorted(args.checkpoints, key=step_of)
    with tempfile.TemporaryDirectory(prefix="wer-curve-") as folder:
        versions = {}
        for checkpoint in checkpoints:
            step = step_of(checkpoint)
            version = f"curve-step{step}"
            export(checkpoint, version=version, out_dir=folder)
            versions[step] = version
        registry = Registry(cache_dir=PathSettings().model_cache_dir, weights_dirs=(WEIGHTS_DIR, Path(folder)))
        cache = ModelCache(registry, threads=2)
        transcriber = cache.transcriber(args.whisper)
        rows: list[list[object]] = []
        for label, denoiser in [("untouched note", None), (args.baseline, cache.denoiser(args.baseline))]:
            values = wer_row(transcriber, items_by_snr, denoiser, args.beam, args.mix)
            rows.append([label, *values, float(np.mean(values))])
            print(rows[-1], flush=True)
        for step, version in versions.items():
            values = wer_row(transcriber, items_by_snr, cache.denoiser(version), args.beam, args.mix)
            rows.append([f"step {step}", *values, float(np.mean(values))])
            print(rows[-1], flush=True)
    table = markdown_table(["Whisper hears", *[f"WER {snr:g} dB" for snr in snrs], "mean"], rows)
    notes = (f"{args.note}\n\n" if args.note else "") + (
        f"Whisper `{args.whisper}` int8, beam {args.beam}, English; {args.limit} utterances of "
        "`shared/data/speech/dev` (LibriSpeech test-other), each mixed with one of the held-out `noise/dev` "
        "recordings as in `bench.wer`; each checkpoint exported as shipped (ONNX graphs for DeepFilterNet3) and its "
        + (
            f"output transcribed with {args.mix:g} of the untouched note added back (the `mix` strategy)."
            if args.mix
            else "output alone transcribed (the `denoised` strategy)."
        )
    )
    record("WER curve: Whisper on a training run's output, by step", table, notes, write=not args.no_record)


if __name__ == "__main__":
    main()
