"""Denoisers on speech and noise from neither of our data folders: recorded Russian speech from Debian packages
(Festival's festvox-ru prose, one male speaker; Asterisk's Russian prompts, one female speaker — the sets
``bench.languages`` reads; ``make bench`` installs them) mixed with babble of the other speaker, pink, brown or
mains-hum noise, or recorded background music (Asterisk's music on hold, package asterisk-moh-opsound-g722:
CC BY-SA 3.0; a kind of noise no training mixture has), at 0, 5 and 10 dB SNR. Nothing here comes from
``shared/data``, so nothing was tuned on it.

    python -m bench.heldout [--count 30] [--model deepfilternet3 --model rnnoise ...] [--no-record]
    python -m bench.heldout --wer [--count 60] [--whisper base] [--mix-ratios 0.2,0.5]
                                   # Whisper's WER: untouched note vs pipeline (and its mix at other shares)

Each model runs through ``ml.evaluate.enhance_at_working_level`` (16 kHz, at the pipeline's working level; a
48-kHz model hears 16 → 48 → 16 kHz), and is scored with ``ml.metrics.score`` (PESQ-wb, STOI, SI-SDR, DNSMOS).
"""

from __future__ import annotations

import argparse
import io
import time
from collections import Counter
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import soundfile

from bench.common import markdown_table, record
from bench.languages import asterisk_prompts, festvox_recordings
from core.choices import STRENGTH_LIMIT_DB
from core.settings import load_settings
from ml.audio import SAMPLE_RATE, decode_audio
from ml.data.synth import colored_noise, hum, mix_at_snr
from ml.errors import NoSpeech
from ml.evaluate import enhance_at_working_level, load_denoiser, split_limit
from ml.metrics import dnsmos_available, score
from ml.pipeline import Pipeline, PipelineOptions
from ml.wer import corpus_wer
from voicebot import wiring

NOISES = ("babble", "pink", "brown", "hum", "music")
MUSIC = Path("/usr/share/asterisk/moh")  # asterisk-moh-opsound-g722: five tracks, 16 kHz G.722
SNRS = (0.0, 5.0, 10.0)
LANGUAGE = "ru"  # both speakers' language
DEFAULT_MODELS = (
    "noisy",
    "rnnoise",
    "noisereduce",
    "gatewave-v1",
    "deepfilternet3",
    f"deepfilternet3@{STRENGTH_LIMIT_DB['gentle']:g}dB",  # what the users' "gentle" runs
    "deepfilternet3-vn1",
)


Utterance = tuple[np.ndarray, str]  # (speech, what is said)


def _speakers(limit: int, rng: np.random.Generator) -> tuple[list[Utterance], list[Utterance]]:
    male = [(decode_audio(path), text) for path, text in festvox_recordings()]
    female = [(decode_audio(path, format="g722"), text) for path, text in asterisk_prompts()]
    rng.shuffle(male)
    rng.shuffle(female)
    return male[: limit * 3], female[: limit * 3]


@cache
def _music() -> tuple[np.ndarray, ...]:
    tracks = sorted(MUSIC.glob("*.g722"))
    if not tracks:
        raise SystemExit(f"bench.heldout needs recorded music in {MUSIC}: apt-get install asterisk-moh-opsound-g722")
    return tuple(decode_audio(path, format="g722") for path in tracks)


def _noise(kind: str, n: int, others: list[Utterance], rng: np.random.Generator) -> np.ndarray:
    if kind == "music":  # a random stretch of one track
        track = _music()[int(rng.integers(len(_music())))]
        start = int(rng.integers(0, max(1, track.size - n)))
        return np.resize(track[start : start + n], n).astype(np.float32)
    if kind == "babble":  # four utterances of the other speaker at once
        picks = rng.choice(len(others), size=4, replace=False)
        voices = [np.resize(others[i][0], n) * rng.uniform(0.5, 1.0) for i in picks]
        return np.sum(voices, axis=0).astype(np.float32)
    if kind == "hum":
        return (hum(n, rng) + 0.3 * colored_noise(n, 0.0, rng)).astype(np.float32)
    return colored_noise(n, 1.0 if kind == "pink" else 2.0, rng).astype(np.float32)


@dataclass(frozen=True)
class Mixture:
    """One held-out utterance in noise."""

    noisy: np.ndarray
    clean: np.ndarray
    noise: str  # one of NOISES
    snr_db: float
    text: str  # what is said


def mixtures(count: int, seed: int = 0) -> list[Mixture]:
    """``count`` held-out utterances in noise, alternating the two speakers."""
    rng = np.random.default_rng(seed)
    male, female = _speakers(count, rng)
    found = []
    for i in range(count):
        speech, others = (male, female) if i % 2 == 0 else (female, male)
        clean, text = speech[i // 2]
        kind, snr = NOISES[i % len(NOISES)], SNRS[i % len(SNRS)]
        level = 10 ** (rng.uniform(-35, -20) / 20) / (np.sqrt(np.mean(clean**2)) + 1e-9)
        clean = (clean * level).astype(np.float32)
        found.append(Mixture(mix_at_snr(clean, _noise(kind, clean.size, others, rng), snr), clean, kind, snr, text))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="mixtures: 30 gives every noise at every SNR twice")
    parser.add_argument("--model", action="append", default=[])
    parser.add_argument("--wer", action="store_true", help="Whisper's WER instead: the untouched note vs the pipeline")
    parser.add_argument("--whisper", default="base", help="with --wer: the Whisper version")
    parser.add_argument("--mix-ratios", default="", help="with --wer: the pipeline again with these mix shares")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    items = mixtures(args.count)
    if args.wer:
        ratios = [float(r) for r in args.mix_ratios.split(",") if r]
        transcripts(items, args.whisper, ratios, write=not args.no_record)
    else:
        quality(items, args.model or list(DEFAULT_MODELS), write=not args.no_record)


def quality(items: list[Mixture], models: list[str], *, write: bool) -> None:
    """Each model's output scored against the clean speech: one table, and SI-SDR by noise."""
    dnsmos = dnsmos_available()
    registry = wiring.registry(load_settings())
    rows: list[list[object]] = []
    by_noise: list[list[object]] = []
    for name in models:
        base, limit_db = split_limit(name)
        denoiser = load_denoiser(base, registry)
        scores, seconds, audio_s = [], 0.0, 0.0
        for item in items:
            tic = time.perf_counter()
            out = enhance_at_working_level(denoiser, item.noisy, limit_db=limit_db)
            seconds += time.perf_counter() - tic
            audio_s += item.noisy.size / SAMPLE_RATE
            scores.append(score(out, item.clean, dnsmos=dnsmos))
        means = {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}
        rows.append([name, *(f"{means[k]:.3f}" for k in means), f"{seconds / audio_s:.3f}"])
        kinds = [item.noise for item in items]
        per_kind = {kind: [s["si_sdr"] for s, k in zip(scores, kinds, strict=True) if k == kind] for kind in NOISES}
        by_noise.append([name, *(f"{np.mean(per_kind[kind]):.2f}" for kind in NOISES)])
        print(rows[-1], flush=True)
    header = ["model", *scores[0].keys(), "RTF"]
    total = sum(item.noisy.size for item in items) / SAMPLE_RATE
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
    record("Denoisers on held-out speech and noise", markdown_table(header, rows), notes, write=write)


def transcripts(items: list[Mixture], whisper: str, ratios: list[float], *, write: bool) -> None:
    """Whisper's WER by SNR on the held-out mixtures (language given: Russian): clean speech, the untouched note,
    and the whole pipeline with the worker's default settings (and again with each of ``ratios`` as its mix
    share), each note through ``Pipeline.process`` as a WAV file (the untouched note with the denoiser off, so both
    are heard at the pipeline's working level)."""
    settings = load_settings(whisper_threads=2)
    cache = wiring.model_cache(settings)
    transcriber = cache.transcriber(whisper)
    pipeline = Pipeline(cache.denoiser(settings.denoiser_version), transcriber)
    options = wiring.pipeline_options(settings, language=LANGUAGE)
    untouched = replace(options, limit_db=0.0)
    others = [replace(options, mix_ratio=ratio) for ratio in ratios if ratio != options.mix_ratio]
    rows: list[list[object]] = []
    by_snr: list[list[float]] = []  # clean, untouched, pipeline, the pipeline with other mix shares
    for snr in SNRS:
        chosen = [item for item in items if item.snr_db == snr]
        references = [item.text for item in chosen]
        clean = [_heard(pipeline, item.clean, untouched)[0] for item in chosen]
        original = [_heard(pipeline, item.noisy, untouched)[0] for item in chosen]
        processed = [_heard(pipeline, item.noisy, options) for item in chosen]
        varied = [[_heard(pipeline, item.noisy, other)[0] for item in chosen] for other in others]
        texts = [clean, original, [text for text, _ in processed], *varied]
        wers = [corpus_wer(references, hyps) for hyps in texts]
        by_snr.append(wers)
        heard = ", ".join(f"{k} {v}" for k, v in Counter(what for _, what in processed).items())
        rows.append([f"{snr:g}", len(chosen), *wers[:3], wers[2] - wers[1], *wers[3:], heard])
        print(rows[-1], flush=True)
    means = [float(np.mean(column)) for column in zip(*by_snr, strict=True)]
    rows.append(["mean", len(items), *means[:3], means[2] - means[1], *means[3:], ""])
    header = ["SNR dB", "notes", "clean speech", "untouched", "pipeline", "pipeline − untouched"]
    header += [f"pipeline, mix {other.mix_ratio:g}" for other in others] + ["Whisper heard"]
    notes = (
        f"Whisper `{whisper}` ({settings.whisper_compute_type}), language given (`{LANGUAGE}`); the pipeline with the "
        f"worker's defaults: denoiser `{settings.denoiser_version}` ({settings.denoiser_strength}), strategy "
        f"`{options.strategy}` (mix share {options.mix_ratio:g}), beam {options.beam_size}. {len(items)} mixtures as "
        'in the table "Denoisers on held-out speech and noise" (recorded Russian speech, male and female, in '
        "babble, pink, brown, hum or recorded music; neither speakers nor noises in our data folders); corpus WER "
        "after `ml.wer.normalize_text`; the mean row averages the SNR rows; a note the pipeline finds no speech in "
        "(the user is told so) counts as an empty transcript."
    )
    record(f"Transcript WER on held-out speech and noise (whisper {whisper})", markdown_table(header, rows), notes,
           write=write)  # fmt: skip


def _heard(pipeline: Pipeline, audio: np.ndarray, options: PipelineOptions) -> tuple[str, str]:
    """(the transcript, what Whisper heard) of ``audio`` through the pipeline; a note the pipeline finds no speech
    in (it answers the user so) counts as an empty transcript, every word of it lost."""
    try:
        result = pipeline.process(_wav(audio), options)
    except NoSpeech:
        return "", "no speech found"
    return result.transcript.text, result.heard


def _wav(audio: np.ndarray) -> bytes:
    """``audio`` (16 kHz) as a float WAV file, what ``Pipeline.process`` reads."""
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


if __name__ == "__main__":
    main()
