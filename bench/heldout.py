"""Denoisers on speech and noise from neither of our data folders: recorded Russian speech from Debian packages
(Festival's festvox-ru prose, one male speaker; Asterisk's Russian prompts, one female speaker — the sets
``bench.languages`` reads; ``make bench`` installs them) mixed with babble of the other speaker, pink, brown or
mains-hum noise, or recorded background music (Asterisk's music on hold, package asterisk-moh-opsound-g722:
CC BY-SA 3.0; a kind of noise no training mixture has), at 0, 5 and 10 dB SNR. Nothing here comes from
``shared/data``, so nothing was tuned on it.

    python -m bench.heldout [--count 30] [--model deepfilternet3 --model rnnoise ...] [--no-record]

Each model runs through ``ml.evaluate.enhance_at_working_level`` (16 kHz, at the pipeline's working level; a
48-kHz model hears 16 → 48 → 16 kHz), and is scored with ``ml.metrics.score`` (PESQ-wb, STOI, SI-SDR, DNSMOS).
"""

from __future__ import annotations

import argparse
import time
from functools import cache
from pathlib import Path

import numpy as np

from bench.common import markdown_table, record
from bench.languages import asterisk_prompts, festvox_recordings
from core.choices import STRENGTH_LIMIT_DB
from core.settings import load_settings
from ml.audio import SAMPLE_RATE, decode_audio
from ml.data.synth import colored_noise, hum, mix_at_snr
from ml.evaluate import enhance_at_working_level, load_denoiser, split_limit
from ml.metrics import dnsmos_available, score
from voicebot import wiring

NOISES = ("babble", "pink", "brown", "hum", "music")
MUSIC = Path("/usr/share/asterisk/moh")  # asterisk-moh-opsound-g722: five tracks, 16 kHz G.722
SNRS = (0.0, 5.0, 10.0)
DEFAULT_MODELS = (
    "noisy",
    "rnnoise",
    "noisereduce",
    "gatewave-v1",
    "deepfilternet3",
    f"deepfilternet3@{STRENGTH_LIMIT_DB['gentle']:g}dB",  # what the users' "gentle" runs
    "deepfilternet3-vn1",
)


def _speakers(limit: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    male = [decode_audio(path) for path, _ in festvox_recordings()]
    female = [decode_audio(path, format="g722") for path, _ in asterisk_prompts()]
    rng.shuffle(male)
    rng.shuffle(female)
    return male[: limit * 3], female[: limit * 3]


@cache
def _music() -> tuple[np.ndarray, ...]:
    tracks = sorted(MUSIC.glob("*.g722"))
    if not tracks:
        raise SystemExit(f"bench.heldout needs recorded music in {MUSIC}: apt-get install asterisk-moh-opsound-g722")
    return tuple(decode_audio(path, format="g722") for path in tracks)


def _noise(kind: str, n: int, others: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    if kind == "music":  # a random stretch of one track
        track = _music()[int(rng.integers(len(_music())))]
        start = int(rng.integers(0, max(1, track.size - n)))
        return np.resize(track[start : start + n], n).astype(np.float32)
    if kind == "babble":  # four utterances of the other speaker at once
        picks = rng.choice(len(others), size=4, replace=False)
        return sum(np.resize(others[i], n) * rng.uniform(0.5, 1.0) for i in picks).astype(np.float32)
    if kind == "hum":
        return (hum(n, rng) + 0.3 * colored_noise(n, 0.0, rng)).astype(np.float32)
    return colored_noise(n, 1.0 if kind == "pink" else 2.0, rng).astype(np.float32)


def mixtures(count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, str, float]]:
    """(noisy, clean, noise kind, SNR) for ``count`` held-out utterances, alternating the two speakers."""
    rng = np.random.default_rng(seed)
    male, female = _speakers(count, rng)
    found = []
    for i in range(count):
        speech, others = (male, female) if i % 2 == 0 else (female, male)
        clean = speech[i // 2]
        kind, snr = NOISES[i % len(NOISES)], SNRS[i % len(SNRS)]
        level = 10 ** (rng.uniform(-35, -20) / 20) / (np.sqrt(np.mean(clean**2)) + 1e-9)
        clean = (clean * level).astype(np.float32)
        found.append((mix_at_snr(clean, _noise(kind, clean.size, others, rng), snr), clean, kind, snr))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="mixtures: 30 gives every noise at every SNR twice")
    parser.add_argument("--model", action="append", default=[])
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    models = args.model or list(DEFAULT_MODELS)
    dnsmos = dnsmos_available()
    items = mixtures(args.count)
    registry = wiring.registry(load_settings())
    rows, by_noise = [], []
    for name in models:
        base, limit_db = split_limit(name)
        denoiser = load_denoiser(base, registry)
        scores, seconds, audio_s = [], 0.0, 0.0
        for noisy, clean, _, _ in items:
            tic = time.perf_counter()
            out = enhance_at_working_level(denoiser, noisy, limit_db=limit_db)
            seconds += time.perf_counter() - tic
            audio_s += noisy.size / SAMPLE_RATE
            scores.append(score(out, clean, dnsmos=dnsmos))
        means = {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}
        rows.append([name, *(f"{means[k]:.3f}" for k in means), f"{seconds / audio_s:.3f}"])
        kinds = [kind for _, _, kind, _ in items]
        per_kind = {kind: [s["si_sdr"] for s, k in zip(scores, kinds, strict=True) if k == kind] for kind in NOISES}
        by_noise.append([name, *(f"{np.mean(per_kind[kind]):.2f}" for kind in NOISES)])
        print(rows[-1], flush=True)
    header = ["model", *scores[0].keys(), "RTF"]
    total = sum(noisy.size for noisy, _, _, _ in items) / SAMPLE_RATE
    notes = (
        f"{len(items)} mixtures ({total / 60:.1f} min): recorded Russian speech (festvox-ru prose, male; Asterisk "
        f"prompts, female; alternating) at −35…−20 dBFS, each with one of {', '.join(NOISES)} (babble: four "
        "utterances of the other speaker; music: Asterisk's music on hold, five recorded tracks) at "
        f"{', '.join(f'{s:g}' for s in SNRS)} dB SNR, in turn; seed 0. "
        "Speakers and noises are in neither data folder. 16 kHz in and out; DNSMOS "
        + ("P.835 on each output tiled to 10 s." if dnsmos else "skipped (models not installed).")
        + "\n\nSI-SDR (dB) by noise:\n\n"
        + markdown_table(["model", *NOISES], by_noise)
    )
    record("Denoisers on held-out speech and noise", markdown_table(header, rows), notes, write=not args.no_record)


if __name__ == "__main__":
    main()
