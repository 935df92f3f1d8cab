"""Speech quality metrics shared by training (validation) and evaluation: PESQ-wb, STOI, SI-SDR and DNSMOS.

No Lightning here: evaluation and benchmarks import this without the training stack.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pesq
import torch
from torchmetrics import MetricCollection
from torchmetrics.audio import (
    PerceptualEvaluationSpeechQuality,
    ScaleInvariantSignalDistortionRatio,
    ShortTimeObjectiveIntelligibility,
)
from torchmetrics.functional.audio import (
    perceptual_evaluation_speech_quality,
    scale_invariant_signal_distortion_ratio,
    short_time_objective_intelligibility,
)
from torchmetrics.functional.audio.dnsmos import deep_noise_suppression_mean_opinion_score

from ml.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

DNSMOS_DIR = Path.home() / ".torchmetrics" / "DNSMOS"
DNSMOS_FILES = ("DNSMOS/model_v8.onnx", "DNSMOS/sig_bak_ovr.onnx")
DNSMOS_NAMES = ("p808", "sig", "bak", "ovrl")
DNSMOS_SECONDS = 10  # DNSMOS scores 9.01 s windows every second: tile shorter clips to one window's worth


def tile_to(x: torch.Tensor, n: int) -> torch.Tensor:
    """Repeat ``x`` (..., time) along time to at least ``n`` samples."""
    return x.repeat(*([1] * (x.dim() - 1)), -(-n // x.shape[-1]))


def dnsmos_available() -> bool:
    """True when DNSMOS's models are installed (``python -m ml setup-metrics``); torchmetrics would download them."""
    return all((DNSMOS_DIR / name).is_file() for name in DNSMOS_FILES)


def quality_metrics() -> MetricCollection:
    """Reference-based metrics, each averaged over the batches they are given (validation)."""
    return MetricCollection(
        {
            "pesq": PerceptualEvaluationSpeechQuality(SAMPLE_RATE, "wb"),
            "stoi": ShortTimeObjectiveIntelligibility(SAMPLE_RATE),
            "si_sdr": ScaleInvariantSignalDistortionRatio(),
        }
    )


def _pesq(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    try:
        return float(perceptual_evaluation_speech_quality(estimate, reference, SAMPLE_RATE, "wb"))
    except pesq.PesqError as exc:  # e.g. no utterances found in a silent output
        log.warning("PESQ failed (%s); counted as missing", exc)
        return math.nan


def score(estimate: np.ndarray, reference: np.ndarray, *, dnsmos: bool, threads: int = 2) -> dict[str, float]:
    """Metrics of one enhanced 16-kHz signal against its clean reference; DNSMOS (no reference) only if asked."""
    est = torch.from_numpy(np.ascontiguousarray(estimate, dtype=np.float32))
    ref = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))
    scores = {
        "pesq": _pesq(est, ref),
        "stoi": float(short_time_objective_intelligibility(est, ref, SAMPLE_RATE)),
        "si_sdr": float(scale_invariant_signal_distortion_ratio(est, ref)),
    }
    if dnsmos:
        # DNSMOS scores 9.01 s windows: a shorter clip is tiled to one window's worth (as in validation)
        tiled = tile_to(est, DNSMOS_SECONDS * SAMPLE_RATE)[: DNSMOS_SECONDS * SAMPLE_RATE]
        _, sig, bak, ovrl = deep_noise_suppression_mean_opinion_score(
            tiled, SAMPLE_RATE, False, num_threads=threads
        ).tolist()
        scores |= {"dnsmos_sig": sig, "dnsmos_bak": bak, "dnsmos_ovrl": ovrl}
    return scores
