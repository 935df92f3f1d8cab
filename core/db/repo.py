"""Repositories: the only code that writes SQL. Each function takes an ``AsyncSession`` and commits."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import AuditLog, Chat, Job, JobStatus, ModelSetting, User, utcnow

UNFINISHED = (
    JobStatus.queued,
    JobStatus.downloading,
    JobStatus.denoising,
    JobStatus.transcribing,
    JobStatus.sending,
)


async def upsert_user(session: AsyncSession, user_id: int, telegram_language: str | None) -> User:
    """The user, created on first contact; Telegram's language is refreshed every time."""
    user = await session.get(User, user_id)
    if user is None:
        user = User(id=user_id, telegram_language=telegram_language)
        session.add(user)
        try:
            await session.commit()
        except IntegrityError:  # created concurrently by another update
            await session.rollback()
            user = await session.get(User, user_id)
            if user is None:
                raise RuntimeError(f"user {user_id} was created concurrently but cannot be read back") from None
    elif telegram_language and user.telegram_language != telegram_language:
        user.telegram_language = telegram_language
        await session.commit()
    return user


async def update_user(session: AsyncSession, user_id: int, **fields: Any) -> User:
    """Change a user's settings."""
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    for name, value in fields.items():
        setattr(user, name, value)
    await session.commit()
    return user


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
    return await session.get(Job, job_id, populate_existing=True)


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


async def get_active_models(session: AsyncSession, defaults: dict[str, str]) -> dict[str, str]:
    """The active versions: the admins' choices where set, else ``defaults``."""
    rows = (await session.scalars(select(ModelSetting))).all()
    return {**defaults, **{row.family: row.version for row in rows}}


async def set_active_model(session: AsyncSession, family: str, version: str, admin_id: int) -> None:
    """Persist an admin's choice of version and audit it."""
    row = await session.get(ModelSetting, family)
    if row is None:
        session.add(ModelSetting(family=family, version=version, updated_by=admin_id))
    else:
        row.version, row.updated_by = version, admin_id
    session.add(AuditLog(admin_id=admin_id, action=f"set_{family}", detail=version, allowed=True))
    await session.commit()


async def audit(session: AsyncSession, admin_id: int, action: str, detail: str, *, allowed: bool) -> None:
    session.add(AuditLog(admin_id=admin_id, action=action, detail=detail, allowed=allowed))
    await session.commit()


@dataclass
class Stats:
    jobs: int
    done: int
    failed: int
    in_progress: int
    p50_s: float | None
    p95_s: float | None

    @property
    def success_rate(self) -> float | None:
        finished = self.done + self.failed
        return self.done / finished if finished else None


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    """The median and the 95th percentile (None without values; one value is both)."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (None, None)
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return statistics.median(values), cuts[18]


async def job_stats(session: AsyncSession, since: dt.datetime) -> Stats:
    """Counts and processing-time percentiles of the jobs created since ``since``."""
    rows = (
        await session.execute(select(Job.status, Job.started_at, Job.finished_at).where(Job.created_at >= since))
    ).all()
    durations = [
        (finished - started).total_seconds()
        for status, started, finished in rows
        if status == JobStatus.done and started and finished
    ]
    p50, p95 = _percentiles(durations)
    return Stats(
        jobs=len(rows),
        done=sum(1 for r in rows if r.status == JobStatus.done),
        failed=sum(1 for r in rows if r.status == JobStatus.failed),
        in_progress=sum(1 for r in rows if r.status in UNFINISHED),
        p50_s=p50,
        p95_s=p95,
    )


@dataclass
class UserLoad:
    in_flight: int
    in_flight_audio_s: float
    last_hour: int
    oldest_in_hour: dt.datetime | None


async def user_load(session: AsyncSession, user_id: int, *, exclude_id: int) -> UserLoad:
    """How much a user has going on: unfinished jobs and jobs accepted in the last hour."""
    hour_ago = utcnow() - dt.timedelta(hours=1)
    rows = (
        await session.execute(
            select(Job.status, Job.duration_s, Job.created_at).where(
                Job.user_id == user_id,
                Job.id != exclude_id,
                Job.created_at >= hour_ago,
                Job.error_code.is_distinct_from("rate_limited"),
            )
        )
    ).all()
    unfinished = [r for r in rows if r.status in UNFINISHED]
    return UserLoad(
        in_flight=len(unfinished),
        in_flight_audio_s=sum(r.duration_s or 60.0 for r in unfinished),
        last_hour=len(rows),
        oldest_in_hour=min((_aware(r.created_at) for r in rows), default=None),
    )


async def chat_load(session: AsyncSession, chat_id: int, *, exclude_id: int) -> tuple[int, dt.datetime | None]:
    """(jobs accepted in a chat in the last hour, the oldest of them): a group's own rate limit."""
    hour_ago = utcnow() - dt.timedelta(hours=1)
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(Job.created_at)).where(
                Job.chat_id == chat_id,
                Job.id != exclude_id,
                Job.created_at >= hour_ago,
                Job.error_code.is_distinct_from("rate_limited"),
            )
        )
    ).one()
    return int(count or 0), _aware(oldest) if oldest is not None else None


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
            Job.created_at >= _aware(job.created_at) - within,
            Job.status.in_(IN_PROGRESS),
        )
    )
    return int(count or 0)


async def get_chat(session: AsyncSession, chat_id: int) -> Chat | None:
    """A group's settings, or None when its admins never changed any."""
    return await session.get(Chat, chat_id, populate_existing=True)


async def update_chat(session: AsyncSession, chat_id: int, admin_id: int, **fields: Any) -> Chat:
    """Change a group's settings (created on first change) and commit."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        chat = Chat(id=chat_id)
        session.add(chat)
    for name, value in fields.items():
        setattr(chat, name, value)
    chat.updated_by = admin_id
    await session.commit()
    return chat


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes: they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def forget_user(session: AsyncSession, user_id: int) -> int:
    """Delete a user's jobs (transcripts, file references) and settings; returns how many jobs went."""
    jobs = await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user_id))
    await session.execute(delete(Job).where(Job.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
    return int(jobs or 0)


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
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


IN_PROGRESS = (JobStatus.downloading, JobStatus.denoising, JobStatus.transcribing, JobStatus.sending)


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
    )
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def heartbeat(session: AsyncSession, job_id: int, worker: str) -> None:
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
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def create_web_job(session: AsyncSession, *, public_id: str, client: str, kind: str, **fields: Any) -> Job:
    """Record a web upload (``kind``: its file format) under its public id."""
    job = Job(key=f"web:{public_id}", source="web", public_id=public_id, client=client, kind=kind, **fields)
    session.add(job)
    await session.commit()
    return job


async def get_web_job(session: AsyncSession, public_id: str) -> Job | None:
    """A web job by its public id (never a Telegram job)."""
    return await session.scalar(select(Job).where(Job.public_id == public_id, Job.source == "web"))


async def web_jobs_since(session: AsyncSession, client: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many web jobs ``client`` created since ``since``, and when the first of them was created."""
    count, first = (
        await session.execute(
            select(func.count(), func.min(Job.created_at)).where(Job.client == client, Job.created_at >= since)
        )
    ).one()
    return int(count or 0), None if first is None else _aware(first)
