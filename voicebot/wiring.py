"""Settings → the model registry, the model cache, pipeline options and the worker's setup: built here only."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from core.choices import limit_db
from core.settings import Settings

if TYPE_CHECKING:  # the bot's process builds only the registry: it must not load torch
    from ml.loader import ModelCache
    from ml.paths import PathSettings
    from ml.pipeline import PipelineOptions
    from ml.registry import Registry
    from ml.strategies import Strategy
    from worker.runner import ModelSpec
    from worker.state import WorkerSetup


def model_paths(settings: Settings) -> PathSettings:
    """The settings' model folders (``MODEL_CACHE_DIR``, ``MODELS_DIR``) as ml's ``PathSettings``, which knows
    where exported denoisers lie; the values given win over the environment, so they are read once, here."""
    from ml.paths import PathSettings

    return PathSettings(model_cache_dir=settings.model_cache_dir, models_dir=settings.models_dir)


def registry(settings: Settings) -> Registry:
    """The model versions these settings can use."""
    return model_paths(settings).registry()


def model_spec(settings: Settings) -> ModelSpec:
    """What a pipeline process needs to build its model cache (picklable)."""
    from worker.runner import ModelSpec

    paths = model_paths(settings)
    return ModelSpec(paths.model_cache_dir, paths.weights_dirs, settings.whisper_threads,
                     settings.whisper_compute_type, nice=settings.pipeline_nice)  # fmt: skip


def model_cache(settings: Settings) -> ModelCache:
    """A cache that loads these settings' model versions once."""
    return model_spec(settings).cache()


def transcribe_strategy(settings: Settings) -> Strategy:
    """``TRANSCRIBE_STRATEGY``, checked here: its words are the pipeline's (``ml.strategies``, which loads no
    model), which core's settings cannot import. Raises ``ValueError`` for a word the pipeline does not know."""
    from ml.strategies import STRATEGIES, is_strategy

    if not is_strategy(settings.transcribe_strategy):
        raise ValueError(f"TRANSCRIBE_STRATEGY must be one of {', '.join(STRATEGIES)}")
    return settings.transcribe_strategy


def pipeline_options(settings: Settings, *, strength: str | None = None, **overrides: Any) -> PipelineOptions:
    """The settings' processing defaults; ``strength`` (a word of ``core.choices.STRENGTHS``, turned into the
    attenuation limit the pipeline takes) and ``overrides`` (a language, a CLI flag) win."""
    from ml.pipeline import PipelineOptions

    options = PipelineOptions(
        limit_db=limit_db(strength or settings.denoiser_strength),
        strategy=transcribe_strategy(settings),
        beam_size=settings.whisper_beam_size,
        vad=settings.whisper_vad,
        max_duration_s=settings.max_duration_s,
    )
    if settings.mix_ratio is not None:  # MIX_RATIO set: it wins over the pipeline's default
        options = replace(options, mix_ratio=settings.mix_ratio)
    return replace(options, **overrides)


def worker_setup(settings: Settings, **overrides: Any) -> WorkerSetup:
    """Everything a worker is built from; tests pass ``pipeline=`` to share one warm pipeline process."""
    from worker.state import WorkerSetup

    return WorkerSetup(settings=settings, models=model_spec(settings), options=pipeline_options(settings),
                       **overrides)  # fmt: skip
