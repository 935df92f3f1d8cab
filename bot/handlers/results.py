"""The buttons under a result: subtitles (.srt and .vtt), the transcript as a file, and the note cleaned again
strongly. Everything comes from the job's record, so a button works after any restart, for as long as the
result is kept."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot, Router
from aiogram.types import BufferedInputFile, CallbackQuery
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.voice import Note, Request, reply_to, submit
from bot.media import Media
from core.choices import STRONGEST, VOICE_AND_TEXT
from core.db.jobs import get_job
from core.db.models import Job, User
from core.results import ResultAction
from core.settings import Settings
from core.subtitles import timestamped, to_srt, to_vtt
from core.texts import t


def _file(text: str, name: str) -> BufferedInputFile:
    return BufferedInputFile(text.encode("utf-8"), filename=name)


@dataclass(frozen=True)
class Kept:
    """A result a button may still act on: its job, and the note it answers (where to reply, what to clean)."""

    job: Job
    note: Note


async def _kept(query: CallbackQuery, session: AsyncSession, job_id: int, lang: str) -> Kept | None:
    """The Telegram job behind a button pressed in its own chat, while its transcript is kept; else say why not."""
    job = await get_job(session, job_id)
    chat_id = query.message.chat.id if query.message else None
    if (
        job is None
        or job.chat_id is None
        or job.chat_id != chat_id
        or job.message_id is None
        or job.file_id is None
        or job.file_unique_id is None
        or job.transcript is None
    ):
        await query.answer(t("result_gone", lang), show_alert=True)
        return None
    media = Media(job.kind, job.file_id, job.file_unique_id, job.file_size, job.duration_s)
    return Kept(job, Note(job.chat_id, job.message_id, media, job.header))


async def on_result_button(
    query: CallbackQuery,
    callback_data: ResultAction,
    bot: Bot,
    session: AsyncSession,
    user: User,
    lang: str,
    settings: Settings,
    arq: ArqRedis,
) -> None:
    kept = await _kept(query, session, callback_data.job_id, lang)
    if kept is None:
        return
    job, note = kept.job, kept.note
    stem = f"note-{job.id}"
    if callback_data.action == "subtitles":
        if not job.segments:
            await query.answer(t("no_timestamps", lang), show_alert=True)
            return
        await query.answer()
        caption: str | None = t("subtitles_caption", lang)
        for text, name in ((to_srt(job.segments), f"{stem}.srt"), (to_vtt(job.segments), f"{stem}.vtt")):
            await bot.send_document(
                note.chat_id, _file(text, name), caption=caption, reply_parameters=reply_to(note.message_id)
            )
            caption = None
    elif callback_data.action == "text":
        await query.answer()
        body = timestamped(job.segments or [], job.transcript or "", job.duration_s or 0.0)
        text = "\n\n".join(part for part in (job.header, body) if part) + "\n"
        await bot.send_document(note.chat_id, _file(text, f"{stem}.txt"), reply_parameters=reply_to(note.message_id))
    elif callback_data.action == "stronger":
        await query.answer()
        request = Request(STRONGEST, VOICE_AND_TEXT, job.transcribe_language, variant=STRONGEST)
        await submit(bot, note, session, user, lang, settings, arq, request)
    else:
        await query.answer()


def build_router() -> Router:
    router = Router(name="results")
    router.callback_query.register(on_result_button, ResultAction.filter())
    return router
