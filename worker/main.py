"""arq worker wiring: a ``WorkerSetup`` → an arq ``Worker`` whose jobs share one ``WorkerState``, read from arq's
context through ``worker/context.py``."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron, func
from arq.worker import Worker

from core.queue import JOB_FUNCTION, QUEUE_NAME, WEB_JOB_FUNCTION, redis_settings
from core.settings import Settings
from worker.context import initial_context, shutdown, startup
from worker.flow import processing_timeout_s
from worker.health import health_key
from worker.jobs import process_note, process_upload
from worker.maintenance import RESCUE_SECONDS, purge_expired_results, rescue_stalled
from worker.state import MAX_TRIES, WorkerSetup

log = logging.getLogger(__name__)


def job_timeout_s(settings: Settings) -> int:
    """arq's hard limit for one job: the longest allowed note's processing time plus download and replies."""
    return int(processing_timeout_s(settings.max_duration_s, settings) + 120)


def make_worker(setup: WorkerSetup, **overrides: Any) -> Worker:
    """An arq Worker for this setup; ``overrides`` are arq's options (tests poll faster, handle no signals)."""
    settings = setup.settings
    timeout = job_timeout_s(settings)
    functions = [func(process_upload, name=WEB_JOB_FUNCTION, timeout=timeout, max_tries=MAX_TRIES)]
    if settings.telegram_bot_token is not None:  # without a token the worker serves web uploads only
        functions.append(func(process_note, name=JOB_FUNCTION, timeout=timeout, max_tries=MAX_TRIES))
    options: dict[str, Any] = {
        "functions": functions,
        "cron_jobs": [
            cron(rescue_stalled, second=RESCUE_SECONDS, run_at_startup=True),
            cron(purge_expired_results, minute=17, second=0),
        ],
        "queue_name": QUEUE_NAME,
        "redis_settings": redis_settings(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": initial_context(setup),
        "max_jobs": 1,  # the pipeline is CPU-bound: one note at a time per worker process
        "keep_result": 3600,
        "health_check_interval": 30,
        "health_check_key": health_key(),
        "poll_delay": 0.5,
    }
    options.update(overrides)
    return Worker(**options)


def run_worker(setup: WorkerSetup) -> None:
    """Run until stopped (SIGINT/SIGTERM)."""
    make_worker(setup).run()
