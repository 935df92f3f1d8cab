"""Noisy/clean pairs mixed on the fly from the shared speech and noise folders.

``TrainMixtures`` streams endless random mixtures (for a DataLoader worker); ``ValidationMixtures`` is a
fixed list drawn once from a seed, identical on every build. Both return ``(noisy, clean)`` float32
tensors of shape (time,). A mixture is: a speech crop, maybe reverberated (the target keeps only the
early reflections), noise from one or two sources (real recordings, babble of other speakers, coloured
noise, hum, clicks) scaled to an SNR drawn uniformly, maybe a phone-like channel on both, and a random
overall level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, get_args

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from ml.data import augment
from ml.data.codec import read_audio
from ml.data.synth import SAMPLE_RATE, clicks, colored_noise, hum, rms

log = logging.getLogger(__name__)

NoiseKind = Literal["real", "babble", "colored", "hum", "clicks"]
NOISE_KINDS: tuple[NoiseKind, ...] = get_args(NoiseKind)
AUDIO_GLOBS = ("*.flac", "*.wav", "*.opus", "*.ogg")  # FLAC in shared/data, Opus in a pack (ml.pack)
MIN_SPEECH_RMS = 1e-3  # crops quieter than this (pauses) are drawn again
Chance = Annotated[float, Field(ge=0.0, le=1.0)]


class MixConfig(BaseModel):
    """How mixtures are drawn (the ``mix:`` section of a training config). Ranges are (low, high), drawn
    uniformly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_s: PositiveFloat = 2.5
    snr_db: tuple[float, float] = (-5.0, 20.0)
    level_db: tuple[float, float] = (-40.0, -15.0)  # RMS of the noisy mixture, dB full scale
    noise_weights: dict[NoiseKind, NonNegativeFloat] = {
        "real": 0.65,
        "babble": 0.15,
        "colored": 0.1,
        "hum": 0.05,
        "clicks": 0.05,
    }
    p_second_noise: Chance = 0.3  # remix: a second source under the first, 0-10 dB quieter
    p_reverb: Chance = 0.3
    rt60_s: tuple[PositiveFloat, PositiveFloat] = (0.2, 0.8)
    early_ms: NonNegativeFloat = 50.0
    p_band_limit: Chance = 0.2
    p_opus: Chance = 0.0  # the noisy input through an Opus voice note (the clean target is not coded)
    opus_kbps: tuple[PositiveFloat, PositiveFloat] = (16.0, 32.0)

    @model_validator(mode="after")
    def _check(self) -> MixConfig:
        if not any(self.noise_weights.values()):
            raise ValueError(f"noise_weights needs a positive weight for one of {', '.join(NOISE_KINDS)} at least")
        for name in ("snr_db", "level_db", "rt60_s", "opus_kbps"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} is a range (low, high), got ({low}, {high})")
        return self

    @property
    def segment(self) -> int:
        return int(self.segment_s * SAMPLE_RATE)


@dataclass
class Mixture:
    """One drawn example: ``noisy = reverberant speech + noise``; ``clean`` is the target."""

    noisy: np.ndarray
    clean: np.ndarray
    noise: np.ndarray
    snr_db: float
    description: str


@dataclass(frozen=True)
class Pools:
    """Decoded audio to draw from: speech utterances and noise recordings grouped by category."""

    speech: Sequence[np.ndarray]
    noise: Mapping[str, Sequence[np.ndarray]]


@cache
def _decode_folder(folder: Path) -> tuple[np.ndarray, ...]:
    files = sorted(p for pattern in AUDIO_GLOBS for p in folder.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no audio files in {folder}")
    return tuple(read_audio(path) for path in files)


def load_pools(data_dir: str | Path, split: str) -> Pools:
    """Decode ``speech/<split>`` and ``noise/<split>/<category>`` under ``data_dir`` (cached per process)."""
    root = Path(data_dir).resolve()
    speech = _decode_folder(root / "speech" / split)
    noise_root = root / "noise" / split
    noise = {d.name: _decode_folder(d) for d in sorted(noise_root.iterdir()) if d.is_dir()}
    if not noise:
        raise FileNotFoundError(f"no noise categories in {noise_root}")
    seconds = (sum(x.size for x in speech), sum(x.size for group in noise.values() for x in group))
    log.info(
        "%s: %.1f min of speech, %.1f min of noise", split, seconds[0] / 60 / SAMPLE_RATE, seconds[1] / 60 / SAMPLE_RATE
    )
    return Pools(speech=speech, noise=noise)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / rms(x)).astype(np.float32)


def _noise_source(kind: str, rng: np.random.Generator, pools: Pools, n: int, speaker: int) -> tuple[np.ndarray, str]:
    if kind == "real":
        category = str(rng.choice(sorted(pools.noise)))
        group = pools.noise[category]
        recording = group[int(rng.integers(len(group)))]
        crop = augment.crop_or_pad(np.resize(recording, max(n, recording.size)), n, rng)
        if rms(crop) > 1e-5:
            return _unit(crop), category
        kind = "colored"  # a silent stretch of a recording: fall back to synthetic noise
    if kind == "babble":
        return augment.babble(rng, pools.speech, n, exclude=speaker), "babble"
    if kind == "colored":
        exponent = rng.uniform(0.0, 2.0)
        return colored_noise(n, exponent, rng), f"colored{exponent:.1f}"
    if kind == "hum":
        return hum(n, rng), "hum"
    return clicks(n, rng, rate_hz=rng.uniform(1.0, 10.0)), "clicks"


def draw_noise(
    rng: np.random.Generator, pools: Pools, config: MixConfig, n: int, speaker: int
) -> tuple[np.ndarray, str]:
    """Unit-RMS noise of one or two sources (see ``MixConfig``) and a description such as ``rain+hum``."""
    kinds, weights = zip(*config.noise_weights.items(), strict=True)
    probabilities = np.array(weights, dtype=np.float64) / sum(weights)
    first = str(rng.choice(kinds, p=probabilities))
    noise, name = _noise_source(first, rng, pools, n, speaker)
    if rng.random() < config.p_second_noise:
        second = str(rng.choice(kinds, p=probabilities))
        extra, extra_name = _noise_source(second, rng, pools, n, speaker)
        noise = _unit(noise + extra * 10 ** (-rng.uniform(0.0, 10.0) / 20))
        name = f"{name}+{extra_name}"
    return noise, name


def make_mixture(rng: np.random.Generator, pools: Pools, config: MixConfig, n: int | None = None) -> Mixture:
    """Draw one mixture of ``n`` samples (default: the configured segment) from ``pools``."""
    n = n or config.segment
    for _ in range(10):
        speaker = int(rng.integers(len(pools.speech)))
        speech = augment.crop_or_pad(pools.speech[speaker], n, rng)
        if rms(speech) >= MIN_SPEECH_RMS:
            break
    notes = []
    clean = wet = speech
    if rng.random() < config.p_reverb:
        wet, clean = augment.reverberate(
            speech, augment.synthetic_rir(rng, rt60_s=config.rt60_s), early_ms=config.early_ms
        )
        notes.append("reverb")
    noise, name = draw_noise(rng, pools, config, n, speaker)
    if rng.random() < config.p_band_limit:
        sos = augment.band_filter(rng)
        wet, clean, noise = (augment.apply_filter(sos, x) for x in (wet, clean, noise))
        notes.append("band")
    snr = float(rng.uniform(*config.snr_db))
    noise = noise * (rms(clean) / (rms(noise) * 10 ** (snr / 20)))
    noisy = wet + noise
    gain = 10 ** (rng.uniform(*config.level_db) / 20) / rms(noisy)
    gain = min(gain, 0.99 / (float(np.abs(noisy).max()) + 1e-9))
    if rng.random() < config.p_opus:
        noisy = augment.opus_round_trip(noisy * np.float32(gain), rng, config.opus_kbps) / np.float32(gain)
        notes.append("opus")
    description = "+".join([name, *notes])
    scale = np.float32(gain)
    return Mixture(scale * noisy, scale * clean, scale * noise, snr_db=snr, description=description)


def _pair(mixture: Mixture) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(mixture.noisy.astype(np.float32)), torch.from_numpy(mixture.clean.astype(np.float32))


class TrainMixtures(IterableDataset):
    """An endless stream of random mixtures; each DataLoader worker draws its own.

    With ``seed=None`` every run (and every resumed session) sees fresh mixtures; a seed makes it repeatable.
    """

    def __init__(self, pools: Pools, config: MixConfig, *, seed: int | None = None) -> None:
        super().__init__()
        self.pools, self.config, self.seed = pools, config, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        worker = get_worker_info()
        worker_id = worker.id if worker is not None else 0
        rng = np.random.default_rng(None if self.seed is None else [self.seed, worker_id])
        while True:
            yield _pair(make_mixture(rng, self.pools, self.config))


class ValidationMixtures(Dataset):
    """``count`` mixtures of ``seconds`` each, the ``i``-th drawn from ``(seed, i)``: the same on every build."""

    def __init__(self, pools: Pools, config: MixConfig, *, count: int, seconds: float, seed: int) -> None:
        n = int(seconds * SAMPLE_RATE)
        self.mixtures = [make_mixture(np.random.default_rng([seed, i]), pools, config, n) for i in range(count)]

    def __len__(self) -> int:
        return len(self.mixtures)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _pair(self.mixtures[index])
