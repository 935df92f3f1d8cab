"""arq's job functions (their names are the queue's contract, ``core/queue.py``): a Telegram note and a web upload,
each the one job flow (``worker/flow.py``) between its source and its sink."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, User
from core.texts import pick_language
from core.webfiles import WebFiles
from worker.context import ArqContext, job_context
from worker.flow import JobSkipped, Route, run_job
from worker.replies import Replier
from worker.sinks import TelegramChat, WebFolder
from worker.sources import TelegramFile, WebUpload
from worker.state import WorkerState


async def process_note(ctx: ArqContext, job_id: int) -> str:
    """arq's job for a Telegram note: download, clean, transcribe, reply in its chat; every step recorded."""
    return await run_job(job_context(ctx), job_id, source="telegram", route=telegram_route)


async def process_upload(ctx: ArqContext, job_id: int) -> str:
    """arq's job for a web upload: clean and transcribe it, results into its folder; every step recorded."""
    return await run_job(job_context(ctx), job_id, source="web", route=web_route)


async def telegram_route(state: WorkerState, session: AsyncSession, job: Job) -> Route:
    """A note's file through the Bot API, its answer in the chat it came from, in its user's language."""
    user = await session.get(User, job.user_id) if job.user_id is not None else None
    if user is None:  # /forget deletes a user's jobs with them: nothing is left to answer
        raise JobSkipped("user gone")
    if job.chat_id is None or job.message_id is None or job.file_id is None:
        raise JobSkipped("missing")
    bot = state.telegram_bot()
    lang = pick_language(user.ui_language, user.telegram_language)
    return Route(
        source=TelegramFile(bot, job.file_id, job.duration_s, local=state.settings.telegram_api_local),
        sink=TelegramChat(state, job, Replier(bot, job.chat_id, job.message_id, job.status_message_id, lang)),
        language=job.transcribe_language or user.transcribe_language,
    )


async def web_route(state: WorkerState, session: AsyncSession, job: Job) -> Route:
    """An upload in its job's folder, the results written back there."""
    if job.public_id is None:
        raise JobSkipped("missing")
    files = WebFiles(state.settings.web_data_dir)
    original = files.original(job.public_id, job.kind)
    return Route(
        source=WebUpload(original),
        sink=WebFolder(state, job.id, files, job.public_id, original),
        language=job.transcribe_language,
    )
