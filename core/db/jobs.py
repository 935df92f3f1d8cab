"""Jobs: one record per note (Telegram message and variant, or web upload), its state and its result."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, JobStatus, utcnow

UNFINISHED = (
    JobStatus.queued,
    JobStatus.downloading,
    JobStatus.denoising,
    JobStatus.transcribing,
    JobStatus.sending,
)


IN_PROGRESS = (JobStatus.downloading, JobStatus.denoising, JobStatus.transcribing, JobStatus.sending)


def job_key(chat_id: int, message_id: int, variant: str = "") -> str:
    """One job per Telegram message and variant (``clean``: asked for the voice too; ``strong``: cleaned again):
    a redelivered update maps to the same key."""
    return f"{chat_id}:{message_id}" + (f":{variant}" if variant else "")


async def create_job(session: AsyncSession, *, variant: str = "", **fields: Any) -> tuple[Job, bool]:
    """Insert a job unless one exists for the same message and variant; returns (job, created)."""
    key = job_key(fields["chat_id"], fields["message_id"], variant)
    existing = await session.scalar(select(Job).where(Job.key == key))
    if existing is not None:
        return existing, False
    job = Job(key=key, **fields)
    session.add(job)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await session.scalar(select(Job).where(Job.key == key))
        if existing is None:
            raise RuntimeError(f"job {key} was created concurrently but cannot be read back") from None
        return existing, False
    return job, True


async def get_job(session: AsyncSession, job_id: int) -> Job | None:
    """The job, read afresh from the database (None when it is gone)."""
    return await session.get(Job, job_id, populate_existing=True)


async def set_status_message(session: AsyncSession, job: Job, message_id: int) -> None:
    """Record the message that shows ``job``'s progress (one UPDATE, committed); ``job`` holds it too."""
    job.status_message_id = message_id
    await session.commit()


async def update_job(session: AsyncSession, job_id: int, **fields: Any) -> None:
    """Set fields of a job (status, error, timings...) and commit."""
    if fields.get("status") in (JobStatus.done, JobStatus.failed) and "finished_at" not in fields:
        fields["finished_at"] = utcnow()
    await session.execute(update(Job).where(Job.id == job_id).values(**fields))
    await session.commit()


async def queue_position(session: AsyncSession, job: Job) -> int:
    """1 + the number of unfinished jobs created before this one."""
    ahead = await session.scalar(
        select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED), Job.id < job.id)
    )
    return int(ahead or 0) + 1


async def find_reusable(
    session: AsyncSession, *, file_unique_id: str, denoiser: str, whisper: str, strength: str, exclude_id: int
) -> Job | None:
    """A finished job on the same audio with the same models and strength, whose result can be sent again."""
    return await session.scalar(
        select(Job)
        .where(
            Job.file_unique_id == file_unique_id,
            Job.denoiser_version == denoiser,
            Job.whisper_version == whisper,
            Job.strength == strength,
            Job.status == JobStatus.done,
            Job.transcript.is_not(None),
            Job.id != exclude_id,
        )
        .order_by(Job.id.desc())
        .limit(1)
    )


async def purge_expired(session: AsyncSession, before: dt.datetime) -> int:
    """Erase transcripts and stored results of jobs finished before ``before``; returns how many."""
    result = await session.execute(
        update(Job)
        .where(
            Job.finished_at < before,
            Job.transcript.is_not(None) | Job.segments.is_not(None) | Job.result_voice_file_id.is_not(None),
        )
        .values(transcript=None, segments=None, header=None, result_voice_file_id=None, error=None)
    )
    await session.commit()
    return int(cast(CursorResult[Any], result).rowcount or 0)
