"""Voice notes and audio in: check limits, record the job, queue it, acknowledge at once.

In a private chat every note is a request. In a group the bot stays quiet unless the chat's admins turned
automatic mode on (``/auto on``) or a member replies ``/transcribe`` (or ``/clean``) to a note: see
``bot.handlers.groups``, which submits through ``submit`` here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import SendMessage
from aiogram.types import (
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
)
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.settings import strength_of
from bot.media import Media, media_of
from core.choices import TEXT_ONLY, VOICE_AND_TEXT
from core.db.chats import get_chat
from core.db.jobs import create_job, queue_position, set_status_message, update_job
from core.db.limits import chat_load, user_load
from core.db.models import Chat, Job, JobStatus, User, utcnow
from core.queue import enqueue_note, queue_depth
from core.settings import Settings
from core.telegram import within_limits
from core.texts import duration_text, t

log = logging.getLogger(__name__)
# How long an acknowledgement may wait for Telegram's rate limits (a chat's burst of notes) before the note is
# queued without one.
ACK_WAIT_S = 20.0
# A job recorded this long ago but never acknowledged was left by a crashed bot: a redelivery resumes it.
ACK_GRACE = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class Note:
    """A message carrying audio, as far as a job needs it: where it is, its file, and a header for the reply."""

    chat_id: int
    message_id: int
    media: Media
    header: str | None = None


def note_of(message: Message, lang: str) -> Note | None:
    """The note ``message`` carries, or None when it carries no audio."""
    media = media_of(message)
    if media is None:
        return None
    return Note(message.chat.id, message.message_id, media, forwarded_header(message, lang))


@dataclass(frozen=True)
class Request:
    """What to do with one note: how to clean it, what to send back, and in which language to transcribe."""

    strength: str
    reply_mode: str  # one of core.choices.REPLY_MODES
    transcribe_language: str | None
    variant: str = ""  # "" for the note itself; "clean" or "strong" for a second request on the same note


def is_group(message: Message) -> bool:
    return message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def private_request(user: User, settings: Settings) -> Request:
    """A note sent to the bot itself: the sender's own settings."""
    return Request(strength_of(user, settings), user.reply_mode, user.transcribe_language)


def group_request(user: User, chat: Chat | None, settings: Settings, *, voice: bool = False) -> Request:
    """A note in a group: the chat's reply mode and language (text by default), the asker's noise removal;
    ``voice`` (asked with /clean) sends the cleaned voice as well."""
    mode = VOICE_AND_TEXT if voice else (chat.reply_mode if chat else TEXT_ONLY)
    language = (chat.transcribe_language if chat else None) or user.transcribe_language
    return Request(strength_of(user, settings), mode, language, variant="clean" if voice else "")


def forwarded_header(message: Message, lang: str) -> str | None:
    """ "↪️ <original sender>, <when>" for a forwarded note, from what Telegram gives; None otherwise."""
    origin = message.forward_origin
    if origin is None:
        return None
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        name += f" (@{user.username})" if user.username else ""
    elif isinstance(origin, MessageOriginHiddenUser):
        name = origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        name = origin.sender_chat.title or origin.author_signature or "?"
    elif isinstance(origin, MessageOriginChannel):
        name = origin.chat.title or origin.author_signature or "?"
    else:
        name = "?"
    when = origin.date.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return t("forwarded_from", lang, name=name, date=when)


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
    message: Message, bot: Bot, session: AsyncSession, user: User, lang: str, settings: Settings, arq: ArqRedis
) -> None:
    """A note sent to the bot, or posted in a group whose admins turned automatic mode on."""
    if is_group(message):
        chat = await get_chat(session, message.chat.id)
        if chat is None or not chat.auto:
            return  # in groups the bot speaks only when asked
        request = group_request(user, chat, settings)
    else:
        request = private_request(user, settings)
    note = note_of(message, lang)
    if note is not None:
        await submit(bot, note, session, user, lang, settings, arq, request)


async def submit(
    bot: Bot,
    note: Note,
    session: AsyncSession,
    user: User,
    lang: str,
    settings: Settings,
    arq: ArqRedis,
    request: Request,
) -> Job:
    """Record the job for ``note`` (the message the results answer), check the limits, queue it and acknowledge;
    a redelivered update changes nothing."""
    media = note.media
    job, created = await create_job(
        session,
        variant=request.variant,
        user_id=user.id,
        chat_id=note.chat_id,
        message_id=note.message_id,
        kind=media.kind,
        file_id=media.file_id,
        file_unique_id=media.file_unique_id,
        file_size=media.file_size,
        duration_s=media.duration_s,
        language_hint=(user.telegram_language or "").split("-")[0] or None,
        transcribe_language=request.transcribe_language,
        header=note.header,
        strength=request.strength,
        reply_mode=request.reply_mode,
    )
    if not created and (job.status_message_id is not None or utcnow() - job.created_at < ACK_GRACE):
        log.info("update for message %s delivered again; job %s is already handled", job.key, job.id)
        return job
    try:
        limit = _limit_error(media, settings, lang) or await _load_error(session, job, note, user, settings, lang, arq)
        if limit is None:
            await _queue(bot, session, job, note, lang, arq)
            return job
        code, reply = limit
    except (RedisError, OSError, TimeoutError) as exc:
        log.error("job %s: the queue is unreachable: %s", job.id, exc)
        code, reply = "queue_unavailable", t("try_later", lang)
    await update_job(session, job.id, status=JobStatus.failed, error_code=code, error=reply)
    if job.status_message_id is None:
        refusal = SendMessage(chat_id=note.chat_id, text=reply, reply_parameters=reply_to(note.message_id))
        with contextlib.suppress(TelegramRetryAfter):  # recorded as failed; the refusal is not worth a longer wait
            await within_limits(bot, refusal, budget_s=ACK_WAIT_S, before_waiting=session.commit)
    else:
        await bot.edit_message_text(reply, chat_id=note.chat_id, message_id=job.status_message_id)
    return job


async def _load_error(
    session: AsyncSession, job: Job, note: Note, user: User, settings: Settings, lang: str, arq: ArqRedis
) -> tuple[str, str] | None:
    """(error code, reply) when this user, this group, or everyone together has too much in the queue already."""
    load = await user_load(session, user.id, exclude_id=job.id)
    if load.in_flight >= settings.max_jobs_in_flight:
        wait = duration_text(10 + 0.3 * load.in_flight_audio_s, lang)
        return "rate_limited", t("rate_in_flight", lang, count=load.in_flight, wait=wait)
    if load.last_hour >= settings.max_jobs_per_hour and load.oldest_in_hour is not None:
        wait_s = (load.oldest_in_hour + dt.timedelta(hours=1) - utcnow()).total_seconds()
        return "rate_limited", t("rate_hourly", lang, count=load.last_hour, wait=duration_text(wait_s, lang))
    if note.chat_id < 0:  # groups have negative ids
        count, oldest = await chat_load(session, note.chat_id, exclude_id=job.id)
        if count >= settings.max_chat_jobs_per_hour and oldest is not None:
            wait_s = (oldest + dt.timedelta(hours=1) - utcnow()).total_seconds()
            return "rate_limited", t("rate_chat", lang, count=count, wait=duration_text(wait_s, lang))
    depth = await queue_depth(arq)
    if depth >= settings.max_queue_depth:
        return "queue_full", t("busy", lang, depth=depth, wait=duration_text(15 * depth, lang))
    return None


def reply_to(message_id: int) -> ReplyParameters:
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


async def _queue(bot: Bot, session: AsyncSession, job: Job, note: Note, lang: str, arq: ArqRedis) -> None:
    """Acknowledge with the queue position, then queue the job (Redis errors propagate to the caller). Beyond
    Telegram's rate limits (a burst of notes) the acknowledgement waits its turn, up to ``ACK_WAIT_S``; after that
    the note is queued without one, and the worker's first progress message stands for it."""
    position = await queue_position(session, job)
    text = t("queued", lang, position=position)
    ack = SendMessage(chat_id=note.chat_id, text=text, reply_parameters=reply_to(note.message_id))
    try:
        status = await within_limits(bot, ack, budget_s=ACK_WAIT_S, before_waiting=session.commit)
        await set_status_message(session, job, status.message_id)
    except TelegramRetryAfter:
        log.warning("job %s: queued without an acknowledgement (Telegram's rate limit)", job.id)
    await enqueue_note(arq, job_id=job.id, key=job.key)
    log.info("queued job %s (%s, %s s)", job.id, job.kind, job.duration_s)


def build_router() -> Router:
    """Messages that carry audio."""
    router = Router(name="voice")
    router.message.register(audio_message, lambda message: media_of(message) is not None)
    return router
