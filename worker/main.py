"""arq worker wiring: settings → WorkerSettings; models, database and Bot API client live in ``ctx``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from typing import Any

from arq import cron, func
from arq.worker import Worker, async_check_health

from core.db.engine import make_engine, make_sessionmaker
from core.db.repo import get_active_models
from core.queue import HEALTH_CHECK_KEY, JOB_FUNCTION, LOADED_KEY, QUEUE_NAME, redis_settings
from core.settings import Settings
from worker.runner import ModelSpec, PipelineRunner

log = logging.getLogger(__name__)
MAX_TRIES = 5


def job_timeout_s(settings: Settings) -> int:
    """arq's hard limit for one job: the longest allowed note's processing time plus download and replies."""
    from worker.jobs import processing_timeout_s

    return int(processing_timeout_s(settings.max_duration_s, settings) + 120)


def pipeline_runner(settings: Settings) -> PipelineRunner:
    """The child process that will run the pipeline with these settings' models."""
    spec = ModelSpec(settings.model_cache_dir, settings.weights_dirs, settings.whisper_threads,
                     settings.whisper_compute_type)  # fmt: skip
    return PipelineRunner(spec)


async def startup(ctx: dict[str, Any]) -> None:
    """Connect to the database and the Bot API, start the pipeline's process and load the active models once."""
    from bot.app import make_bot

    settings: Settings = ctx["settings"]
    ctx["engine"] = make_engine(settings.database_url)
    ctx["sessionmaker"] = make_sessionmaker(ctx["engine"])
    ctx["bot"] = make_bot(settings)
    ctx["max_tries"] = MAX_TRIES
    ctx["worker_name"] = f"{socket.gethostname()}:{os.getpid()}"
    if ctx.get("pipeline") is None:  # tests share one warm pipeline process between workers
        ctx["pipeline"] = pipeline_runner(settings)
        ctx["owns_pipeline"] = True
    ctx["publish_loaded"] = lambda: publish_loaded(ctx)
    async with ctx["sessionmaker"]() as session:
        active = await get_active_models(
            session, {"denoiser": settings.denoiser_version, "whisper": settings.whisper_version}
        )
    await ctx["pipeline"].load(active["denoiser"], active["whisper"])
    await publish_loaded(ctx)
    log.info("worker %s ready with %s", ctx["worker_name"], active)


async def publish_loaded(ctx: dict[str, Any]) -> None:
    """Tell admins (via Redis, for /models) which versions this worker holds in memory."""
    await ctx["redis"].set(LOADED_KEY + ctx["worker_name"], json.dumps(ctx["pipeline"].loaded), ex=3600)


async def shutdown(ctx: dict[str, Any]) -> None:
    if "redis" in ctx and "worker_name" in ctx:
        await ctx["redis"].delete(LOADED_KEY + ctx["worker_name"])
    if "bot" in ctx:
        await ctx["bot"].session.close()
    if "engine" in ctx:
        await ctx["engine"].dispose()
    if ctx.get("owns_pipeline"):
        await asyncio.to_thread(ctx["pipeline"].close)


def make_worker(settings: Settings, **overrides: Any) -> Worker:
    """An arq Worker for these settings; tests pass ``ctx={"pipeline": ...}`` to share a warm pipeline process."""
    from worker.jobs import process_note
    from worker.maintenance import RESCUE_SECONDS, purge_expired_results, rescue_stalled

    ctx = {"settings": settings, **overrides.pop("ctx", {})}
    options: dict[str, Any] = {
        "functions": [func(process_note, name=JOB_FUNCTION, timeout=job_timeout_s(settings), max_tries=MAX_TRIES)],
        "cron_jobs": [
            cron(rescue_stalled, second=RESCUE_SECONDS, run_at_startup=True),
            cron(purge_expired_results, minute=17, second=0),
        ],
        "queue_name": QUEUE_NAME,
        "redis_settings": redis_settings(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": ctx,
        "max_jobs": 1,  # the pipeline is CPU-bound: one note at a time per worker process
        "keep_result": 3600,
        "health_check_interval": 30,
        "health_check_key": health_key(),
        "poll_delay": 0.5,
    }
    options.update(overrides)
    return Worker(**options)


def run_worker(settings: Settings) -> None:
    """Run until stopped (SIGINT/SIGTERM)."""
    make_worker(settings).run()


def health_key() -> str:
    """One health key per host (container), so each container's health check sees its own worker."""
    return f"{HEALTH_CHECK_KEY}:{socket.gethostname()}"


def worker_healthy(settings: Settings) -> bool:
    """arq's health check: this host's worker wrote its health key within the interval."""
    return asyncio.run(async_check_health(redis_settings(settings.redis_url), health_key(), QUEUE_NAME)) == 0
