"""The job: one note from download to reply. Idempotent: it reloads its record and skips finished work."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.chat_action import ChatActionSender
from arq import Retry
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, JobStatus, User, utcnow
from core.db.repo import (
    claim_job,
    earlier_in_progress,
    find_reusable,
    get_active_models,
    get_job,
    heartbeat,
    release_job,
    update_job,
)
from core.results import result_keyboard
from core.settings import Settings
from core.subtitles import timestamped
from core.texts import duration_text, pick_language
from ml.errors import AudioError, TooLong
from ml.pipeline import PipelineResult
from worker.replies import Replier
from worker.runner import PipelineCrashed, PipelineTimedOut
from worker.state import WorkerState

log = logging.getLogger(__name__)

TRANSIENT = (TelegramNetworkError, TelegramServerError, OperationalError, ConnectionError, TimeoutError)
STAGE_STATUS = {
    "denoising": JobStatus.denoising,
    "transcribing": JobStatus.transcribing,
    "encoding": JobStatus.transcribing,
}


# notes a chat sent within BATCH_WINDOW of each other are answered in order; a worker waits at most BATCH_WAIT_S
BATCH_WINDOW = dt.timedelta(minutes=2)
BATCH_WAIT_S = 120.0


class ProcessingTimedOut(Exception):
    """The pipeline ran past the time allowed for a note of this length."""


class LocalFileMissing(Exception):
    """A local Bot API server named a file this worker cannot read (their disks are not shared)."""


def processing_timeout_s(duration_s: float | None, settings: Settings) -> float:
    """Time allowed for one note's processing: by default a minute plus its length (RTF 1, far above the measured
    0.15); a note whose length Telegram did not state is allowed what the longest note would be."""
    return settings.processing_time_base_s + settings.processing_time_per_audio_s * (
        duration_s or settings.max_duration_s
    )


def retry_delay_s(job_try: int) -> int:
    """Back-off for transient failures: 5, 10, 20, 40, 60 s."""
    return min(60, 5 * 2 ** (job_try - 1))


async def process_note(ctx: dict[str, Any], job_id: int) -> str:
    """arq's job: process job ``job_id`` — download, clean, transcribe, reply; record every step."""
    state: WorkerState = ctx["state"]
    settings = state.settings
    async with state.session() as session:
        job = await get_job(session, job_id)
        if job is None:
            log.warning("job %s not found", job_id)
            return "missing"
        skipped = await take(state, session, job)
        if skipped:
            return skipped
        user = await session.get(User, job.user_id)
        if user is None:  # /forget deletes a user's jobs with them: nothing is left to answer
            log.warning("job %s: its user is gone", job_id)
            return "user gone"
        lang = pick_language(user.ui_language, user.telegram_language)
        active = await get_active_models(session, settings.default_models)
        await update_job(
            session,
            job.id,
            started_at=job.started_at or utcnow(),
            denoiser_version=active["denoiser"] if job.strength != "off" else "none",
            whisper_version=active["whisper"],
        )
        job = await get_job(session, job_id)
        if job is None:
            log.warning("job %s vanished while being claimed", job_id)
            return "missing"
    replier = Replier(state.bot, job.chat_id, job.message_id, job.status_message_id, lang)
    beating = asyncio.create_task(keep_beating(state, job.id))
    try:
        return await _handle(state, job, user, replier, job_try=ctx.get("job_try", 1))
    except Retry:
        await release(state, job.id)
        raise
    finally:
        beating.cancel()


async def keep_beating(state: WorkerState, job_id: int) -> None:
    """Refresh the job's heartbeat while this worker holds it; a stale heartbeat means the worker died."""
    while True:
        await asyncio.sleep(state.settings.job_heartbeat_s)
        try:
            async with state.session() as session:
                await heartbeat(session, job_id, state.name)
        except OperationalError as exc:
            log.warning("job %s: heartbeat failed: %s", job_id, exc)


async def take(state: WorkerState, session: AsyncSession, job: Job) -> str | None:
    """Claim ``job`` for this worker; or the reason it is left alone (finished, or held by a live worker)."""
    if job.status.finished:
        return f"already {job.status.value}"
    stale_before = utcnow() - dt.timedelta(seconds=state.settings.job_stale_after_s)
    if not await claim_job(session, job.id, state.name, stale_before=stale_before):
        return "held by another worker"
    return None


async def release(state: WorkerState, job_id: int) -> None:
    """Free the job for its retry; if the database is down too, the rescue frees it once the heartbeat is stale."""
    with contextlib.suppress(OperationalError):
        async with state.session() as session:
            await release_job(session, job_id, state.name)


async def _handle(state: WorkerState, job: Job, user: User, replier: Replier, *, job_try: int) -> str:
    """Process the note, turning failures into a recorded reason and a reply (or a retry when transient)."""
    settings = state.settings
    try:
        return await _process(state, job, user, replier)
    except AudioError as exc:
        await _fail(state, job, replier, exc.code, str(exc), reply_values=_values(exc, replier.lang))
        return f"failed: {exc.code}"
    except TelegramRetryAfter as exc:
        log.warning("job %s: Telegram asks to wait %s s", job.id, exc.retry_after)
        raise Retry(defer=exc.retry_after) from exc
    except TelegramBadRequest as exc:
        if "too big" in exc.message.lower():
            sizes = {"size_mb": (job.file_size or 0) / 2**20, "max_mb": settings.max_file_mb}
            await _fail(state, job, replier, "too_big", exc.message, reply_values=sizes)
            return "failed: too_big"
        await _fail(state, job, replier, "internal", f"Telegram refused a request: {exc.message}")
        return "failed: internal"
    except ProcessingTimedOut as exc:
        await _fail(state, job, replier, "timeout", str(exc))
        return "failed: timeout"
    except PipelineCrashed as exc:
        await _fail(state, job, replier, "crashed", str(exc))
        return "failed: crashed"
    except TRANSIENT as exc:
        if job_try < state.max_tries:
            log.warning("job %s: transient failure (%s), retrying", job.id, exc)
            raise Retry(defer=retry_delay_s(job_try)) from exc
        await _fail(state, job, replier, "internal", f"gave up after {state.max_tries} tries: {exc}")
        return "failed: internal"
    except Exception as exc:  # a bug: the user still gets an answer and the record says what happened
        log.exception("job %s crashed", job.id)
        await _fail(state, job, replier, "internal", f"{type(exc).__name__}: {exc}")
        return "failed: internal"


def _values(exc: AudioError, lang: str) -> dict[str, str]:
    if isinstance(exc, TooLong):
        return {"length": duration_text(exc.duration_s, lang), "limit": duration_text(exc.max_s, lang)}
    return {}


async def _fail(
    state: WorkerState,
    job: Job,
    replier: Replier,
    code: str,
    error: str,
    reply_values: dict[str, object] | None = None,
) -> None:
    """Record the failure and tell the user why, in their language."""
    log.info("job %s failed: %s (%s)", job.id, code, error)
    async with state.session() as session:
        await update_job(session, job.id, status=JobStatus.failed, error_code=code, error=error)
    key = code if code in ("too_big", "too_long") else f"error_{code}"
    replies = (
        "too_big",
        "too_long",
        "error_unsupported_audio",
        "error_empty_audio",
        "error_no_speech",
        "error_timeout",
    )
    if key not in replies:
        key = "error_internal"
    await replier.fail(key, **(reply_values or {}))


async def _set_status(state: WorkerState, job_id: int, status: JobStatus) -> None:
    async with state.session() as session:
        await update_job(session, job_id, status=status)


async def _process(state: WorkerState, job: Job, user: User, replier: Replier) -> str:
    started = time.perf_counter()

    async with state.session() as session:
        previous = await find_reusable(
            session,
            file_unique_id=job.file_unique_id,
            denoiser=job.denoiser_version or "",
            whisper=job.whisper_version or "",
            strength=job.strength,
            exclude_id=job.id,
        )
    if previous is not None and (previous.result_voice_file_id or job.reply_mode == "text"):
        async with state.session() as session:  # kept before sending: the result's buttons read it
            await update_job(
                session, job.id, status=JobStatus.sending, transcript=previous.transcript, segments=previous.segments,
                language=previous.language, duration_s=previous.duration_s,
            )  # fmt: skip
        voice = previous.result_voice_file_id if job.reply_mode == "voice_text" else None
        text = reply_text(job, previous.segments or [], previous.transcript or "", previous.duration_s or 0.0)
        file_id = await replier.send_results(
            voice, previous.duration_s or 0.0, text, skip=job.sent_parts, on_sent=_sent(state, job),
            markup=result_keyboard(job.id, job.strength, replier.lang),
        )  # fmt: skip
        async with state.session() as session:
            await update_job(
                session, job.id, status=JobStatus.done, timings_ms={}, reused_job_id=previous.id,
                result_voice_file_id=file_id or previous.result_voice_file_id,
            )  # fmt: skip
        await replier.status("done_cached")
        return f"done (reused job {previous.id})"

    await _set_status(state, job.id, JobStatus.downloading)
    await replier.status("stage_downloading")
    source = await _fetch(state, job)
    download_ms = (time.perf_counter() - started) * 1000

    result = await _run_pipeline(state, job, user, source, replier)

    segments = segments_record(result)
    await _after_earlier_notes(state, job)
    async with state.session() as session:  # kept before sending: the result's buttons read it
        await update_job(
            session, job.id, status=JobStatus.sending, transcript=result.transcript.text, segments=segments,
            language=result.transcript.language, duration_s=result.duration_s,
        )  # fmt: skip
    await replier.status("stage_sending")
    voice = result.voice_ogg if job.reply_mode == "voice_text" else None
    file_id = await replier.send_results(
        voice,
        result.duration_s,
        reply_text(job, segments, result.transcript.text, result.duration_s),
        skip=job.sent_parts,
        on_sent=_sent(state, job),
        markup=result_keyboard(job.id, job.strength, replier.lang),
    )
    total_s = time.perf_counter() - started
    async with state.session() as session:
        await update_job(
            session,
            job.id,
            status=JobStatus.done,
            timings_ms={"download": round(download_ms, 1), **{k: round(v, 1) for k, v in result.timings_ms.items()},
                        "total": round(total_s * 1000, 1)},
            result_voice_file_id=file_id,
            error_code=None,
            error=None,
        )  # fmt: skip
    await replier.status("done", duration=result.duration_s, seconds=total_s)
    return "done"


async def _fetch(state: WorkerState, job: Job) -> bytes | str:
    """The note's file: downloaded from the Bot API into memory (Telegram's limit is 20 MB), or, from a local Bot
    API server (``TELEGRAM_API_LOCAL``), the path on its disk, which the worker shares and the pipeline reads as a
    stream (files up to 2 GB)."""
    telegram_file = await state.bot.get_file(job.file_id)
    path = telegram_file.file_path or ""
    if state.settings.telegram_api_local:
        if not Path(path).is_file():
            raise LocalFileMissing(
                f"the local Bot API server's file {path} is not readable here: share its working directory "
                "with the worker at the same path"
            )
        return path
    buffer = io.BytesIO()
    await state.bot.download_file(path, destination=buffer, timeout=120)
    return buffer.getvalue()


async def _after_earlier_notes(state: WorkerState, job: Job) -> None:
    """Wait (up to ``BATCH_WAIT_S``) while other workers are still on notes sent just before this one in the same
    chat, so that a batch comes back in order also when several workers share it."""
    deadline = time.monotonic() + BATCH_WAIT_S
    while time.monotonic() < deadline:
        async with state.session() as session:
            if not await earlier_in_progress(session, job, within=BATCH_WINDOW):
                return
        await asyncio.sleep(0.5)
    log.info("job %s: earlier notes of its chat still in progress after %s s; answering anyway", job.id, BATCH_WAIT_S)


def reply_text(job: Job, segments: list[dict[str, Any]], text: str, duration_s: float) -> str:
    """What the user reads: the header (a forwarded note's origin) over the transcript, which has [mm:ss] marks at
    its paragraphs when the note is over a minute long."""
    return "\n\n".join(part for part in (job.header, timestamped(segments, text, duration_s)) if part)


def segments_record(result: PipelineResult) -> list[dict[str, Any]]:
    """What a job keeps of Whisper's segments: times (s, to the millisecond) and text, for subtitles."""
    return [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in result.transcript.segments]


def _sent(state: WorkerState, job: Job) -> Callable[[int], Awaitable[None]]:
    """Records how many result messages went out, so a retry after a crash never sends one twice."""

    async def record(count: int) -> None:
        async with state.session() as session:
            await update_job(session, job.id, sent_parts=count)

    return record


async def _run_pipeline(
    state: WorkerState, job: Job, user: User, source: bytes | str, replier: Replier
) -> PipelineResult:
    """The CPU-bound pipeline in the worker's pipeline process; stage changes edit the status message."""
    settings = state.settings
    language = job.transcribe_language or user.transcribe_language
    options = replace(state.options, strength=job.strength, language=language, language_hint=job.language_hint)
    edits: list[asyncio.Task[None]] = []

    def on_stage(stage: str) -> None:
        edits.append(asyncio.create_task(_stage_changed(state, job.id, stage, replier)))

    timeout = processing_timeout_s(job.duration_s, settings)
    try:
        async with ChatActionSender.record_voice(bot=state.bot, chat_id=job.chat_id):
            try:
                return await state.pipeline.process(
                    source,
                    options,
                    denoiser=job.denoiser_version or "none",
                    whisper=job.whisper_version or settings.whisper_version,
                    timeout_s=timeout,
                    on_stage=on_stage,
                )
            except PipelineTimedOut as exc:
                raise ProcessingTimedOut(str(exc)) from exc
    finally:
        await asyncio.gather(*edits, return_exceptions=True)
        await state.publish_loaded()


async def _stage_changed(state: WorkerState, job_id: int, stage: str, replier: Replier) -> None:
    status = STAGE_STATUS.get(stage)
    if status is not None:
        await _set_status(state, job_id, status)
    await replier.status(f"stage_{stage}")
