"""The contract between bot and worker: the job function's name, its deterministic id, and Redis settings."""

from __future__ import annotations

from arq.connections import ArqRedis, RedisSettings
from arq.jobs import Job as ArqJob

JOB_FUNCTION = "process_note"
WEB_JOB_FUNCTION = "process_upload"  # a file uploaded through the web page
QUEUE_NAME = "voicebot:queue"
HEALTH_CHECK_KEY = "voicebot:health-check"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_settings(url: str | None) -> RedisSettings:
    """arq's settings for ``url`` (default: a local Redis)."""
    settings = RedisSettings.from_dsn(url or DEFAULT_REDIS_URL)
    settings.conn_timeout = 2
    settings.conn_retries = 1
    return settings


def arq_job_id(key: str, rescue: int = 0) -> str:
    """Deterministic per job key (a Telegram message, or a message and a variant such as ``clean``): arq refuses
    a second job with the same id. A rescue of a job
    whose worker died gets its own id, since the dead worker's id stays taken until arq expires it; it is
    deterministic too, so rescuers racing each other queue it once."""
    return f"note:{key}" + (f":r{rescue}" if rescue else "")


async def enqueue_note(pool: ArqRedis, *, job_id: int, key: str, rescue: int = 0) -> ArqJob | None:
    """Queue job ``job_id`` (its ``key``); ``None`` when it is already queued or its result still kept."""
    return await pool.enqueue_job(JOB_FUNCTION, job_id, _job_id=arq_job_id(key, rescue), _queue_name=QUEUE_NAME)


def web_arq_job_id(public_id: str, rescue: int = 0) -> str:
    """A web upload's arq job id (as ``arq_job_id``, a rescue gets its own)."""
    return f"upload:{public_id}" + (f":r{rescue}" if rescue else "")


async def enqueue_upload(pool: ArqRedis, *, job_id: int, public_id: str, rescue: int = 0) -> ArqJob | None:
    """Queue web job ``job_id``; ``None`` when it is already queued."""
    return await pool.enqueue_job(
        WEB_JOB_FUNCTION, job_id, _job_id=web_arq_job_id(public_id, rescue), _queue_name=QUEUE_NAME
    )


async def queue_depth(pool: ArqRedis) -> int:
    """Jobs waiting in the queue (not those running)."""
    return int(await pool.zcard(QUEUE_NAME))
