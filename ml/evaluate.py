"""Denoiser evaluation on fixed, seeded dev mixtures: PESQ-wb, STOI, SI-SDR, DNSMOS and real-time factor.

Every model sees the same mixtures: dev speech × dev noise, the ``i``-th drawn from ``(seed, i)`` at the SNR
bucket ``snr_buckets[i % len(snr_buckets)]`` (exactly that SNR, measured against the clean target). Models
are the baselines ``noisy`` (the input untouched), ``rnnoise`` and ``noisereduce`` (spectral gating), any
registered denoiser version, or a checkpoint path: an exported ``.pt`` or a Lightning ``.ckpt`` from ``runs/``.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import noisereduce
import numpy as np
import torch

from ml.audio import SAMPLE_RATE
from ml.data.mixer import MixConfig, Mixture, load_pools, make_mixture
from ml.denoisers import Denoiser, PassThrough, Progress, TorchDenoiser, enhance
from ml.export import load_source
from ml.loader import ModelCache
from ml.loudness import WORKING_LUFS, working_gain
from ml.metrics import DNSMOS_DIR, dnsmos_available, score
from ml.registry import Registry

log = logging.getLogger(__name__)

SNR_BUCKETS = (-5.0, 0.0, 5.0, 10.0, 15.0)
BASELINES = ("noisy", "rnnoise", "noisereduce")
METRICS = ("pesq", "stoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
COLUMNS = {  # metric → (table header, decimals)
    "pesq": ("PESQ", 2),
    "stoi": ("STOI", 3),
    "si_sdr": ("SI-SDR dB", 2),
    "dnsmos_sig": ("SIG", 2),
    "dnsmos_bak": ("BAK", 2),
    "dnsmos_ovrl": ("OVRL", 2),
    "rtf": ("RTF", 3),
}
_PLAIN = MixConfig(noise_weights={"real": 1.0}, p_second_noise=0.0, p_reverb=0.0, p_band_limit=0.0)
EVAL_SETS: dict[str, tuple[str, MixConfig]] = {
    "dev": ("dev speech × one dev noise recording (speech/dev × noise/dev), no reverb or band limit", _PLAIN),
    "dev-aug": (
        "dev speech × the training noise mix drawn from dev data (recordings, babble of dev speakers, coloured "
        "noise, hum, clicks, a second source), reverb and band limits as in training",
        MixConfig(),
    ),
}


class SpectralGating:
    """``noisereduce``'s non-stationary spectral gating (the noise floor is tracked over time, which suits
    changing real-world noise) as a denoiser."""

    sample_rate = SAMPLE_RATE

    def __init__(self, version: str = "noisereduce") -> None:
        self.version = version

    def __call__(
        self, audio: np.ndarray, progress: Progress | None = None, *, limit_db: float | None = None
    ) -> np.ndarray:
        out = noisereduce.reduce_noise(y=audio, sr=SAMPLE_RATE, stationary=False, n_jobs=1)
        return np.asarray(out, dtype=np.float32)


def eval_mixtures(
    data_dir: str | Path,
    *,
    set_name: str = "dev",
    count: int = 40,
    seconds: float = 4.0,
    snr_buckets: Sequence[float] = SNR_BUCKETS,
    seed: int = 0,
) -> list[Mixture]:
    """The evaluation set: ``count`` mixtures of ``seconds``, identical on every build for the same arguments."""
    if set_name not in EVAL_SETS:
        raise ValueError(f"unknown evaluation set {set_name!r}; known: {', '.join(EVAL_SETS)}")
    if count < 1 or not snr_buckets:
        raise ValueError("need at least one mixture and one SNR bucket")
    pools = load_pools(data_dir, "dev")
    config = EVAL_SETS[set_name][1]
    n = int(seconds * SAMPLE_RATE)
    mixtures = []
    for i in range(count):
        snr = float(snr_buckets[i % len(snr_buckets)])
        at_snr = config.model_copy(update={"snr_db": (snr, snr)})
        mixtures.append(make_mixture(np.random.default_rng([seed, i]), pools, at_snr, n))
    return mixtures


def split_limit(name: str) -> tuple[str, float | None]:
    """``"deepfilternet3@20dB"`` → (``"deepfilternet3"``, 20.0): a model with its attenuation limited to 20 dB
    (without ``@``: no limit)."""
    base, at, limit = name.partition("@")
    if not at:
        return base, None
    try:
        return base, float(limit.removesuffix("dB"))
    except ValueError:
        raise ValueError(f"{name}: the attenuation limit after '@' is a number of dB, e.g. {base}@20dB") from None


def enhance_at_working_level(denoiser: Denoiser, noisy: np.ndarray, *, limit_db: float | None = None) -> np.ndarray:
    """``denoiser`` on 16-kHz ``noisy`` heard at the pipeline's working level, returned at the input's level."""
    factor = working_gain(noisy, SAMPLE_RATE)
    return enhance(denoiser, noisy * factor, SAMPLE_RATE, limit_db=limit_db) / factor


def load_denoiser(name: str, registry: Registry) -> Denoiser:
    """A baseline, a checkpoint file (exported ``.pt`` or Lightning ``.ckpt``), a registered version or a
    DeepFilterNet3 archive (``.tar.gz``, run as the product runs it)."""
    if name == "noisy":
        return PassThrough("noisy")
    if name == "noisereduce":
        return SpectralGating()
    if Path(name).is_file() and not name.endswith(".tar.gz"):
        return TorchDenoiser(load_source(name).model, version=name)
    return ModelCache(registry).denoiser(name)


@dataclass(frozen=True)
class MixtureScores:
    """One model's scores on one mixture, and the wall time it took to denoise it."""

    model: str
    index: int
    snr_db: float
    scores: dict[str, float]
    seconds: float
    audio_s: float


@dataclass
class Evaluation:
    """Per-mixture scores of every model, with what is needed to describe how they were measured."""

    set_name: str
    models: list[str]
    snr_buckets: tuple[float, ...]
    count: int
    seconds: float
    seed: int
    threads: int
    dnsmos: bool
    rows: list[MixtureScores] = field(default_factory=list)
    load_average: float = math.nan  # of the machine (1 min) when scoring ended: context for the RTF

    @property
    def metrics(self) -> tuple[str, ...]:
        return METRICS if self.dnsmos else METRICS[:3]

    def _means(self, rows: list[MixtureScores]) -> dict[str, float]:
        means = {}
        for metric in self.metrics:
            values = [r.scores[metric] for r in rows if math.isfinite(r.scores[metric])]
            means[metric] = float(np.mean(values)) if values else math.nan
        return means

    def overall(self) -> dict[str, dict[str, float]]:
        """Model → metric → mean over every mixture, plus ``rtf`` (denoising time / audio duration)."""
        result = {}
        for model in self.models:
            rows = [r for r in self.rows if r.model == model]
            rtf = sum(r.seconds for r in rows) / sum(r.audio_s for r in rows)
            result[model] = self._means(rows) | {"rtf": rtf}
        return result

    def per_bucket(self) -> dict[tuple[str, float], dict[str, float]]:
        """(model, SNR bucket) → metric → mean over that bucket's mixtures."""
        return {
            (model, snr): self._means([r for r in self.rows if r.model == model and r.snr_db == snr])
            for snr in self.snr_buckets
            for model in self.models
        }

    def tables(self) -> str:
        """The overall table and the per-SNR-bucket table, in Markdown."""
        overall = [[model, *_cells(scores, [*self.metrics, "rtf"])] for model, scores in self.overall().items()]
        buckets = [
            [model, f"{snr:g}", *_cells(scores, self.metrics)] for (model, snr), scores in self.per_bucket().items()
        ]
        headers = [COLUMNS[m][0] for m in self.metrics]
        return (
            f"Overall ({self.count} mixtures):\n\n"
            + _markdown(["model", *headers, COLUMNS["rtf"][0]], overall)
            + "\n\nPer SNR bucket:\n\n"
            + _markdown(["model", "SNR dB", *headers], buckets)
            + "\n"
        )

    def notes(self) -> str:
        """How the numbers were measured, in a few sentences."""
        description, config = EVAL_SETS[self.set_name]
        low, high = config.level_db
        buckets = ", ".join(f"{s:g}" for s in self.snr_buckets)
        dnsmos = (
            "DNSMOS P.835 (SIG/BAK/OVRL, not personalised) on each output tiled to 10 s."
            if self.dnsmos
            else f"DNSMOS skipped: its models are not under {DNSMOS_DIR} (run `python -m ml setup-metrics`)."
        )
        gating = (
            "`noisereduce` is non-stationary spectral gating with its defaults. "
            if "noisereduce" in self.models
            else ""
        )
        return (
            f"Set `{self.set_name}`: {description}; {self.count} mixtures of {self.seconds:g} s, seed {self.seed}, "
            f"SNR buckets {buckets} dB (mixture i at bucket i mod {len(self.snr_buckets)}), level {low:g} to "
            f"{high:g} dBFS. PESQ wide-band, STOI and SI-SDR against the clean target (torchmetrics); {dnsmos} "
            f"{gating}Each denoiser hears the mixture at the pipeline's working level ({WORKING_LUFS:g} LUFS). "
            f"RTF = denoising wall time / audio duration with {self.threads} torch threads (OpenMP wait policy "
            f"{os.environ.get('OMP_WAIT_POLICY', 'default')}), model loading excluded; machine load average "
            f"{self.load_average:.1f} when scoring ended."
        )

    def plot(self, path: str | Path) -> Path:
        """PESQ, STOI, SI-SDR and (if measured) DNSMOS OVRL against the SNR bucket, one line per model, as PNG."""
        from matplotlib.figure import Figure

        metrics = [m for m in ("pesq", "stoi", "si_sdr", "dnsmos_ovrl") if m in self.metrics]
        figure = Figure(figsize=(4 * len(metrics), 3.5), layout="tight")
        axes = figure.subplots(1, len(metrics), squeeze=False)[0]
        table = self.per_bucket()
        for ax, metric in zip(axes, metrics, strict=True):
            for model in self.models:
                ax.plot(self.snr_buckets, [table[(model, s)][metric] for s in self.snr_buckets], "o-", label=model)
            ax.set_xlabel("input SNR (dB)")
            ax.set_title(COLUMNS[metric][0])
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize="small")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
        return path


def _cells(scores: dict[str, float], metrics: Sequence[str]) -> list[str]:
    return [f"{scores[m]:.{COLUMNS[m][1]}f}" if math.isfinite(scores[m]) else "—" for m in metrics]


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def evaluate(
    models: Sequence[str],
    *,
    registry: Registry,
    data_dir: str | Path,
    set_name: str = "dev",
    count: int = 40,
    seconds: float = 4.0,
    snr_buckets: Sequence[float] = SNR_BUCKETS,
    seed: int = 0,
    threads: int = 2,
    dnsmos: bool = True,
) -> Evaluation:
    """Score each model on the same evaluation mixtures (see ``eval_mixtures``).

    DNSMOS is measured when asked and its models are installed (never downloaded); otherwise skipped, and
    the notes say so.
    """
    models = list(dict.fromkeys(models))
    if not models:
        raise ValueError("no models to evaluate")
    if dnsmos and not dnsmos_available():
        log.warning("DNSMOS models not found under %s; DNSMOS skipped (run `python -m ml setup-metrics`)", DNSMOS_DIR)
        dnsmos = False
    mixtures = eval_mixtures(
        data_dir, set_name=set_name, count=count, seconds=seconds, snr_buckets=snr_buckets, seed=seed
    )
    denoisers = {name: load_denoiser(split_limit(name)[0], registry) for name in models}  # fail before scoring
    evaluation = Evaluation(
        set_name, models, tuple(float(s) for s in snr_buckets), count, seconds, seed, threads, dnsmos
    )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for name, denoiser in denoisers.items():
            started = time.monotonic()
            limit_db = split_limit(name)[1]
            enhance(denoiser, mixtures[0].noisy[:SAMPLE_RATE], SAMPLE_RATE)  # warm-up, not timed
            for index, mixture in enumerate(mixtures):
                tic = time.perf_counter()
                enhanced = enhance_at_working_level(denoiser, mixture.noisy, limit_db=limit_db)
                elapsed = time.perf_counter() - tic
                evaluation.rows.append(
                    MixtureScores(
                        name,
                        index,
                        mixture.snr_db,
                        score(enhanced, mixture.clean, dnsmos=dnsmos, threads=threads),
                        elapsed,
                        mixture.noisy.size / SAMPLE_RATE,
                    )
                )
            log.info("%s: %d mixtures scored in %.1f s", name, len(mixtures), time.monotonic() - started)
    finally:
        torch.set_num_threads(previous_threads)
    evaluation.load_average = os.getloadavg()[0]
    return evaluation
