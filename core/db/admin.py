"""What admins choose and see: the active model versions, the audit log, and the day's job statistics."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.jobs import UNFINISHED
from core.db.models import AuditLog, Job, JobStatus, ModelSetting


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
    """Record what an admin (or someone who is not one) tried, and whether it was allowed."""
    session.add(AuditLog(admin_id=admin_id, action=action, detail=detail, allowed=allowed))
    await session.commit()


@dataclass
class Stats:
    """The jobs created since a moment: how many, how they ended, processing time percentiles (seconds)."""

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
