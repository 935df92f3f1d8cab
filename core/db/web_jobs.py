"""Web uploads' jobs, known by their unguessable public id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job


async def create_web_job(session: AsyncSession, *, public_id: str, client: str, kind: str, **fields: Any) -> Job:
    """Record a web upload (``kind``: its file format) under its public id."""
    job = Job(key=f"web:{public_id}", source="web", public_id=public_id, client=client, kind=kind, **fields)
    session.add(job)
    await session.commit()
    return job


async def get_web_job(session: AsyncSession, public_id: str) -> Job | None:
    """A web job by its public id (never a Telegram job)."""
    return await session.scalar(select(Job).where(Job.public_id == public_id, Job.source == "web"))
