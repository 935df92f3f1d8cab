"""How much one user, one group chat or one web client has sent lately: the rate limits' counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.jobs import UNFINISHED
from core.db.models import Job, aware, utcnow


@dataclass
class UserLoad:
    """A user's unfinished jobs (and their audio's length) and the jobs accepted in the last hour."""

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
        oldest_in_hour=min((aware(r.created_at) for r in rows), default=None),
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
    return int(count or 0), aware(oldest) if oldest is not None else None


async def web_jobs_since(session: AsyncSession, client: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """How many web jobs ``client`` created since ``since``, and when the first of them was created."""
    count, first = (
        await session.execute(
            select(func.count(), func.min(Job.created_at)).where(Job.client == client, Job.created_at >= since)
        )
    ).one()
    return int(count or 0), None if first is None else aware(first)
