"""Where a job's answer goes (the flow's ``ResultSink``): a Telegram note's chat, or a web job's folder."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.utils.chat_action import ChatActionSender
from arq import Retry

from core.choices import TEXT_ONLY, VOICE_AND_TEXT
from core.db.claims import earlier_in_progress
from core.db.jobs import find_reusable
from core.db.models import Job, JobStatus
from core.results import result_keyboard
from core.subtitles import timestamped
from core.texts import duration_text
from core.webfiles import WebFiles, write_atomically
from ml.errors import TooLong
from ml.pipeline import PipelineResult
from ml.spectrogram import spectrograms_png
from worker.flow import Answer, Clock, Failure, record_done, record_job, stage_status
from worker.replies import Replier
from worker.state import WorkerState

log = logging.getLogger(__name__)

# notes a chat sent within BATCH_WINDOW of each other are answered in order; a worker waits at most BATCH_WAIT_S
BATCH_WINDOW = dt.timedelta(minutes=2)
BATCH_WAIT_S = 120.0
# the failures a user is told in their own words; any other is "something went wrong"
TOLD = ("too_big", "too_long", "error_unsupported_audio", "error_empty_audio", "error_no_speech", "error_timeout")


@dataclass(frozen=True)
class TelegramChat:
    """A Telegram note's chat: its status message follows the stages; the cleaned voice and the text come back as
    replies to the note, the result's buttons under the last, each recorded as it goes out (a retry never sends one
    twice), in the order the chat sent its notes. Telegram's own errors are read here."""

    state: WorkerState
    job: Job
    replier: Replier  # talks to the chat, in the user's language

    async def reuse(self) -> str | None:
        """Send again the result of a finished job on the same file with the same models and strength, when it can
        be sent again (its voice's file_id is kept, or the user wants text only)."""
        job = self.job
        async with self.state.session() as session:
            previous = await find_reusable(
                session,
                file_unique_id=job.file_unique_id or "",
                denoiser=job.denoiser_version or "",
                whisper=job.whisper_version or "",
                strength=job.strength,
                exclude_id=job.id,
            )
        if previous is None or not (previous.result_voice_file_id or job.reply_mode == TEXT_ONLY):
            return None
        file_id = await self._send(Answer.stored(previous), previous.result_voice_file_id)
        await record_job(self.state, job.id, status=JobStatus.done, timings_ms={}, reused_job_id=previous.id,
                         result_voice_file_id=file_id or previous.result_voice_file_id)  # fmt: skip
        await self.replier.status("done_cached")
        return f"done (reused job {previous.id})"

    async def stage(self, stage: str) -> None:
        """Record the stage's status and show the stage in the status message."""
        if status := stage_status(stage):
            await record_job(self.state, self.job.id, **status)
        await self.replier.status(f"stage_{stage}")

    def busy(self) -> AbstractAsyncContextManager[object]:
        """The chat shows "recording voice…" while the pipeline runs."""
        return ChatActionSender.record_voice(bot=self.replier.bot, chat_id=self.replier.chat_id)

    async def deliver(self, result: PipelineResult, clock: Clock) -> None:
        """After the chat's earlier notes: the cleaned voice (unless the user wants text only) and the text."""
        await self._after_earlier_notes()
        await self.replier.status("stage_sending")
        file_id = await self._send(Answer.of(result), result.voice_ogg)
        total_s = await record_done(self.state, self.job.id, clock, result_voice_file_id=file_id)
        await self.replier.status("done", duration=result.duration_s, seconds=total_s)

    def explain(self, exc: Exception) -> Failure | Retry | None:
        """Telegram asking to wait (retried after its delay), a file over the Bot API's download limit, a request it
        refused; and a note over the length limit, told in the user's language."""
        if isinstance(exc, TelegramRetryAfter):
            log.warning("job %s: Telegram asks to wait %s s", self.job.id, exc.retry_after)
            return Retry(defer=exc.retry_after)
        if isinstance(exc, TelegramBadRequest) and "too big" in exc.message.lower():
            sizes = {"size_mb": (self.job.file_size or 0) / 2**20, "max_mb": self.state.settings.max_file_mb}
            return Failure("too_big", exc.message, sizes)
        if isinstance(exc, TelegramBadRequest):
            return Failure("internal", f"Telegram refused a request: {exc.message}")
        if isinstance(exc, TooLong):
            lang = self.replier.lang
            length = {"length": duration_text(exc.duration_s, lang), "limit": duration_text(exc.max_s, lang)}
            return Failure(exc.code, str(exc), length)
        return None

    async def failed(self, failure: Failure) -> None:
        """Say why in the status message, in the user's language."""
        key = failure.code if failure.code in ("too_big", "too_long") else f"error_{failure.code}"
        await self.replier.fail(key if key in TOLD else "error_internal", **failure.values)

    async def _send(self, answer: Answer, voice: bytes | str | None) -> str | None:
        """Record the answer (the result's buttons read it), then send it: ``voice`` (the cleaned note, or a file_id
        sent before) when the user wants it, and the text; returns the voice's file_id."""
        job = self.job
        await record_job(self.state, job.id, status=JobStatus.sending, **answer.fields())
        return await self.replier.send_results(
            voice if job.reply_mode == VOICE_AND_TEXT else None,
            answer.duration_s,
            reply_text(job, answer),
            skip=job.sent_parts,
            on_sent=self._sent,
            markup=result_keyboard(job.id, job.strength, self.replier.lang),
        )

    async def _sent(self, count: int) -> None:
        """Records how many result messages went out, so a retry after a crash never sends one twice."""
        await record_job(self.state, self.job.id, sent_parts=count)

    async def _after_earlier_notes(self) -> None:
        """Wait (up to ``BATCH_WAIT_S``) while other workers are still on notes sent just before this one in the
        same chat, so that a batch comes back in order also when several workers share it."""
        deadline = time.monotonic() + BATCH_WAIT_S
        while time.monotonic() < deadline:
            async with self.state.session() as session:
                if not await earlier_in_progress(session, self.job, within=BATCH_WINDOW):
                    return
            await asyncio.sleep(0.5)
        log.info("job %s: earlier notes of its chat still in progress after %s s; answering anyway", self.job.id,
                 BATCH_WAIT_S)  # fmt: skip


def reply_text(job: Job, answer: Answer) -> str:
    """What the user reads: the header (a forwarded note's origin) over the transcript, which has [mm:ss] marks at
    its paragraphs when the note is over a minute long."""
    transcript = timestamped(answer.segments, answer.transcript, answer.duration_s)
    return "\n\n".join(part for part in (job.header, transcript) if part)


@dataclass(frozen=True)
class WebFolder:
    """A web job's folder under ``WEB_DATA_DIR`` and its record, which the page polls: the stages recorded, the
    cleaned voice and the spectrograms (before above after) written into the folder."""

    state: WorkerState
    job_id: int
    files: WebFiles
    public_id: str
    original: Path  # the upload, drawn above the cleaned voice

    async def reuse(self) -> None:
        """Never: an upload has no Telegram file to recognise it by."""
        return None

    async def stage(self, stage: str) -> None:
        """Record the stage (and its status), for the page to show."""
        await record_job(self.state, self.job_id, stage=stage, **stage_status(stage))

    def busy(self) -> AbstractAsyncContextManager[object]:
        """Nothing to show while the pipeline runs but the stages."""
        return contextlib.nullcontext()

    async def deliver(self, result: PipelineResult, clock: Clock) -> None:
        """The spectrograms and the cleaned voice into the folder, written whole or not at all; then the record."""
        await self.stage("drawing")
        picture = await asyncio.to_thread(spectrograms_png, [str(self.original), result.voice_ogg])
        await asyncio.to_thread(write_atomically, self.files.spectrogram(self.public_id), picture)
        await asyncio.to_thread(write_atomically, self.files.cleaned(self.public_id), result.voice_ogg)
        await record_done(self.state, self.job_id, clock, stage=None, **Answer.of(result).fields())

    def explain(self, exc: Exception) -> Failure | None:
        """The job's folder erased (retention) before a worker got to it."""
        if isinstance(exc, FileNotFoundError):
            return Failure("expired", f"the upload is gone: {exc.filename}")
        return None

    async def failed(self, failure: Failure) -> None:
        """Nothing to send: the page reads the failure from the record."""
