"""The worker's health: the key each worker refreshes in Redis, and the check ``voicebot worker --check`` runs.

Light on purpose: a container's health check runs this every 30 s, so it imports arq and the queue's names only —
nothing of the pipeline, the models or the Bot API client."""

from __future__ import annotations

import asyncio
import socket

from arq.worker import async_check_health

from core.queue import HEALTH_CHECK_KEY, QUEUE_NAME, redis_settings
from core.settings import Settings


def health_key() -> str:
    """One health key per host (container), so each container's health check sees its own worker."""
    return f"{HEALTH_CHECK_KEY}:{socket.gethostname()}"


def worker_healthy(settings: Settings) -> bool:
    """arq's health check: this host's worker wrote its health key within the interval."""
    return asyncio.run(async_check_health(redis_settings(settings.redis_url), health_key(), QUEUE_NAME)) == 0
