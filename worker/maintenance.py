"""Periodic jobs every worker runs: rescue notes whose worker died or whose queue entry was lost, and erase
results older than the retention period."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from arq.connections import ArqRedis
from arq.jobs import Job as ArqJob

from core.db.claims import stalled_jobs, take_over
from core.db.jobs import purge_expired
from core.db.models import Job, utcnow
from core.queue import enqueue_note, enqueue_upload
from core.webfiles import WebFiles
from worker.context import ArqContext, job_context

log = logging.getLogger(__name__)
RESCUE_SECONDS = {5, 25, 45}  # when in each minute the rescue runs


async def rescue_stalled(ctx: ArqContext) -> int:
    """Queue again the jobs a dead worker held (new arq id) and those Redis lost (same id: a no-op if
    the job is still queued). Returns how many were queued."""
    state = job_context(ctx).state
    settings = state.settings
    now = utcnow()
    queued = 0
    async with state.session() as session:
        dead, waiting = await stalled_jobs(
            session,
            stale_before=now - dt.timedelta(seconds=settings.job_stale_after_s),
            queued_before=now - dt.timedelta(seconds=settings.requeue_after_s),
        )
        for job in dead:
            log.warning("job %s: worker %s stopped beating; queueing it again", job.id, job.worker)
            await _enqueue(state.redis, job, rescue=job.attempts)
            if await take_over(session, job):  # only after it is queued: a failed enqueue is retried next tick
                queued += 1
        for job in waiting:
            if await _enqueue(state.redis, job):
                log.warning("job %s was missing from the queue; queued it again", job.id)
                queued += 1
    return queued


async def _enqueue(redis: ArqRedis, job: Job, rescue: int = 0) -> ArqJob | None:
    """Queue a job again with the job function of its source (a Telegram note or a web upload)."""
    if job.source == "web" and job.public_id is not None:
        return await enqueue_upload(redis, job_id=job.id, public_id=job.public_id, rescue=rescue)
    return await enqueue_note(redis, job_id=job.id, key=job.key, rescue=rescue)


async def purge_expired_results(ctx: ArqContext) -> int:
    """Erase transcripts and stored results older than RETENTION_DAYS, and the web jobs' files (uploads, cleaned
    voices, spectrograms) as old."""
    state = job_context(ctx).state
    before = utcnow() - dt.timedelta(days=state.settings.retention_days)
    async with state.session() as session:
        count = await purge_expired(session, before)
    folders = await asyncio.to_thread(WebFiles(state.settings.web_data_dir).purge_older_than, before)
    if count or folders:
        log.info("erased the results of %d jobs and %d web job folders past retention", count, folders)
    return count
