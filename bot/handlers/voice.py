"""Voice notes and audio in: check limits, record the job, queue it, acknowledge at once."""

from __future__ import annotations

import datetime as dt
import logging

from aiogram import Router
from aiogram.types import Message
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.settings import strength_of
from bot.media import Media, media_of
from core.db.models import Job, JobStatus, User, utcnow
from core.db.repo import create_job, queue_position, update_job, user_load
from core.queue import enqueue_note, queue_depth
from core.settings import Settings
from core.texts import duration_text, t

log = logging.getLogger(__name__)
# A job recorded this long ago but never acknowledged was left by a crashed bot: a redelivery resumes it.
ACK_GRACE = dt.timedelta(seconds=60)


def _limit_error(media: Media, settings: Settings, lang: str) -> tuple[str, str] | None:
    """(error code, reply) when the file breaks a limit we can see before downloading."""
    if media.file_size and media.file_size > settings.max_file_mb * 1024 * 1024:
        size_mb = media.file_size / 1024 / 1024
        return "too_big", t("too_big", lang, size_mb=size_mb, max_mb=settings.max_file_mb)
    if media.duration_s and media.duration_s > settings.max_duration_s:
        length, limit = duration_text(media.duration_s, lang), duration_text(settings.max_duration_s, lang)
        return "too_long", t("too_long", lang, length=length, limit=limit)
    return None


async def audio_message(
    message: Message, session: AsyncSession, user: User, lang: str, settings: Settings, arq: ArqRedis
) -> None:
    media = media_of(message)
    if media is None:  # the router's filter lets only audio through
        return
    job, created = await create_job(
        session,
        user_id=user.id,
        chat_id=message.chat.id,
        message_id=message.message_id,
        kind=media.kind,
        file_id=media.file_id,
        file_unique_id=media.file_unique_id,
        file_size=media.file_size,
        duration_s=media.duration_s,
        language_hint=(user.telegram_language or "").split("-")[0] or None,
        strength=strength_of(user, settings),
        reply_mode=user.reply_mode,
    )
    if not created and (job.status_message_id is not None or utcnow() - job.created_at < ACK_GRACE):
        log.info("update for message %s delivered again; job %s is already handled", job.key, job.id)
        return
    try:
        limit = _limit_error(media, settings, lang) or await _load_error(session, job, settings, lang, arq)
        if limit is None:
            await _queue(message, session, job, lang, arq)
            return
        code, reply = limit
    except (RedisError, OSError, TimeoutError) as exc:
        log.error("job %s: the queue is unreachable: %s", job.id, exc)
        code, reply = "queue_unavailable", t("try_later", lang)
    await update_job(session, job.id, status=JobStatus.failed, error_code=code, error=reply)
    if job.status_message_id is None:
        await message.reply(reply)
    else:
        await message.bot.edit_message_text(reply, chat_id=job.chat_id, message_id=job.status_message_id)  # type: ignore[union-attr]


async def _load_error(
    session: AsyncSession, job: Job, settings: Settings, lang: str, arq: ArqRedis
) -> tuple[str, str] | None:
    """(error code, reply) when this user, or everyone together, has too much in the queue already."""
    load = await user_load(session, job.user_id, exclude_id=job.id)
    if load.in_flight >= settings.max_jobs_in_flight:
        wait = duration_text(10 + 0.3 * load.in_flight_audio_s, lang)
        return "rate_limited", t("rate_in_flight", lang, count=load.in_flight, wait=wait)
    if load.last_hour >= settings.max_jobs_per_hour and load.oldest_in_hour is not None:
        wait_s = (load.oldest_in_hour + dt.timedelta(hours=1) - utcnow()).total_seconds()
        return "rate_limited", t("rate_hourly", lang, count=load.last_hour, wait=duration_text(wait_s, lang))
    depth = await queue_depth(arq)
    if depth >= settings.max_queue_depth:
        return "queue_full", t("busy", lang, depth=depth, wait=duration_text(15 * depth, lang))
    return None


async def _queue(message: Message, session: AsyncSession, job: Job, lang: str, arq: ArqRedis) -> None:
    """Acknowledge with the queue position, then queue the job (Redis errors propagate to the caller)."""
    position = await queue_position(session, job)
    status = await message.reply(t("queued", lang, position=position))
    job.status_message_id = status.message_id
    await update_job(session, job.id, status_message_id=status.message_id)
    await enqueue_note(arq, job_id=job.id, chat_id=job.chat_id, message_id=job.message_id)
    log.info("queued job %s (%s, %s s)", job.id, job.kind, job.duration_s)


def build_router() -> Router:
    """Messages that carry audio."""
    router = Router(name="voice")
    router.message.register(audio_message, lambda message: media_of(message) is not None)
    return router
