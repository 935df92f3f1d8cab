"""Which worker holds a job: claims, heartbeats, release, and the rescue of jobs whose worker died."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.jobs import IN_PROGRESS, UNFINISHED
from core.db.models import Job, aware, utcnow


async def claim_job(session: AsyncSession, job_id: int, worker: str, *, stale_before: dt.datetime) -> bool:
    """Take job ``job_id`` for ``worker`` unless it is finished or another live worker holds it."""
    result = await session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_(UNFINISHED),
            (Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < stale_before) | (Job.worker == worker),
        )
        .values(worker=worker, heartbeat_at=utcnow(), attempts=Job.attempts + 1)
        # not evaluated against the jobs the session holds: SQLite gives their times back without a zone, and
        # comparing one with ``stale_before`` would raise TypeError for a job another worker holds
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(cast(CursorResult[Any], result).rowcount)


async def heartbeat(session: AsyncSession, job_id: int, worker: str) -> None:
    """Mark job ``job_id`` as alive while ``worker`` holds it."""
    await session.execute(update(Job).where(Job.id == job_id, Job.worker == worker).values(heartbeat_at=utcnow()))
    await session.commit()


async def release_job(session: AsyncSession, job_id: int, worker: str) -> None:
    """Let go of a job that will be retried later (by whichever worker takes it)."""
    await session.execute(update(Job).where(Job.id == job_id, Job.worker == worker).values(heartbeat_at=None))
    await session.commit()


async def stalled_jobs(
    session: AsyncSession, *, stale_before: dt.datetime, queued_before: dt.datetime
) -> tuple[list[Job], list[Job]]:
    """(jobs whose worker stopped beating, jobs queued long ago and maybe lost with Redis)."""
    dead = (
        await session.scalars(
            select(Job).where(
                Job.status.in_(IN_PROGRESS), Job.heartbeat_at.is_not(None), Job.heartbeat_at < stale_before
            )
        )
    ).all()
    waiting = (
        await session.scalars(
            select(Job).where(
                Job.status.in_(UNFINISHED),
                Job.heartbeat_at.is_(None),
                Job.status_message_id.is_not(None) | (Job.source == "web"),  # a Telegram job once acknowledged
                Job.created_at < queued_before,
            )
        )
    ).all()
    return list(dead), list(waiting)


async def take_over(session: AsyncSession, job: Job) -> bool:
    """Mark a dead worker's job as free (once, even if several rescuers look at it at the same time)."""
    result = await session.execute(
        update(Job).where(Job.id == job.id, Job.heartbeat_at == job.heartbeat_at).values(heartbeat_at=None, worker=None)
    )
    await session.commit()
    return bool(cast(CursorResult[Any], result).rowcount)


async def earlier_in_progress(session: AsyncSession, job: Job, *, within: dt.timedelta) -> int:
    """How many notes of the same chat, sent before ``job`` (lower message ids) and recorded at most ``within``
    before it, are being processed by some worker now: a batch (of forwarded notes, say) is answered in order.
    A queued one that no worker has taken is not counted: this worker may be the one it waits for."""
    count = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.chat_id == job.chat_id,
            Job.message_id < job.message_id,
            Job.created_at >= aware(job.created_at) - within,
            Job.status.in_(IN_PROGRESS),
        )
    )
    return int(count or 0)
