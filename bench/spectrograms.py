"""Spectrograms of one noisy note, untouched and through each denoiser, in one PNG (``bench/plots/``).

    python -m bench.spectrograms [--model rnnoise --model deepfilternet3 ...] [--snr 5] [--no-record]

The note: dev speech in the held-out dev kitchen noise; every denoiser runs through ``ml.denoisers.enhance``.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import ROOT, record
from core.choices import STRENGTH_LIMIT_DB
from core.settings import load_settings
from ml.audio import SAMPLE_RATE
from ml.data.synth import mix_at_snr
from ml.denoisers import enhance
from ml.evaluate import load_denoiser, split_limit
from voicebot import wiring

PLOTS = ROOT / "bench" / "plots"
DEFAULT_MODELS = (
    "rnnoise",
    "noisereduce",
    "gatewave-v1",
    f"deepfilternet3@{STRENGTH_LIMIT_DB['gentle']:g}dB",  # what the users' "gentle" runs
    "deepfilternet3",
    "deepfilternet3-vn1",
)


def _note(snr_db: float) -> tuple[np.ndarray, np.ndarray]:
    from ml.audio import decode_audio
    from ml.paths import default_shared, dev_transcripts

    name = sorted(dev_transcripts())[3]
    clean = decode_audio(default_shared() / "data" / "speech" / "dev" / name)
    noise = decode_audio(default_shared() / "data" / "noise" / "dev" / "kitchen" / "kitchen_15081206.flac")
    return mix_at_snr(clean, np.resize(noise, clean.size), snr_db), clean


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[])
    parser.add_argument("--snr", type=float, default=5.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    noisy, clean = _note(args.snr)
    registry = wiring.registry(load_settings())
    panels = [("clean speech", clean), (f"noisy ({args.snr:g} dB, kitchen)", noisy)]
    for name in args.model or DEFAULT_MODELS:
        base, limit_db = split_limit(name)
        panels.append((name, enhance(load_denoiser(base, registry), noisy, SAMPLE_RATE, limit_db=limit_db)))
    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 1.9 * len(panels)), sharex=True)
    for ax, (title, audio) in zip(axes, panels, strict=True):
        ax.specgram(audio + 1e-9, NFFT=512, Fs=SAMPLE_RATE, noverlap=384, cmap="magma", vmin=-130, vmax=-30)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("Hz")
    axes[-1].set_xlabel("s")
    figure.tight_layout()
    PLOTS.mkdir(parents=True, exist_ok=True)
    path = PLOTS / "spectrograms.png"
    figure.savefig(path, dpi=90)
    record(
        "Spectrograms: one noisy note through each denoiser",
        f"![spectrograms]({path.relative_to(ROOT)})",
        "A dev utterance in the held-out dev kitchen noise; each denoiser through `ml.denoisers.enhance` "
        "(16 kHz in and out); colour scale −130 to −30 dB.",
        write=not args.no_record,
    )


if __name__ == "__main__":
    main()
