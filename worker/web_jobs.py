"""The web job: a file uploaded through the web page, cleaned and transcribed by the same pipeline; its results
(cleaned voice, spectrograms, transcript and segments) are kept for the page instead of being sent to a chat."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from dataclasses import replace
from typing import Any

from arq import Retry

from core.db.models import Job, JobStatus, utcnow
from core.db.repo import get_active_models, get_job, update_job
from core.webfiles import WebFiles, write_atomically
from ml.audio import probe_duration
from ml.errors import AudioError
from ml.pipeline import PipelineResult
from ml.spectrogram import spectrograms_png
from worker.jobs import (
    STAGE_STATUS,
    TRANSIENT,
    keep_beating,
    processing_timeout_s,
    release,
    retry_delay_s,
    segments_record,
    take,
)
from worker.runner import PipelineCrashed, PipelineTimedOut
from worker.state import WorkerState

log = logging.getLogger(__name__)


async def process_upload(ctx: dict[str, Any], job_id: int) -> str:
    """arq's job for web uploads: clean and transcribe job ``job_id``'s file; record every step on the job."""
    state: WorkerState = ctx["state"]
    settings = state.settings
    async with state.session() as session:
        job = await get_job(session, job_id)
        if job is None or job.source != "web" or job.public_id is None:
            log.warning("web job %s not found", job_id)
            return "missing"
        skipped = await take(state, session, job)
        if skipped:
            return skipped
        active = await get_active_models(session, settings.default_models)
        await update_job(
            session,
            job.id,
            status=JobStatus.downloading,
            stage="decoding",
            started_at=job.started_at or utcnow(),
            denoiser_version=active["denoiser"] if job.strength != "off" else "none",
            whisper_version=active["whisper"],
        )
        job = await get_job(session, job_id)
    if job is None:
        return "missing"
    beating = asyncio.create_task(keep_beating(state, job.id))
    try:
        return await _handle(state, job, job_try=ctx.get("job_try", 1))
    except Retry:
        await release(state, job.id)
        raise
    finally:
        beating.cancel()


async def _handle(state: WorkerState, job: Job, *, job_try: int) -> str:
    """Process the upload, turning failures into a recorded reason (or a retry when transient)."""
    try:
        return await _process(state, job)
    except AudioError as exc:
        await _fail(state, job, exc.code, str(exc))
    except PipelineTimedOut as exc:
        await _fail(state, job, "timeout", str(exc))
    except PipelineCrashed as exc:
        await _fail(state, job, "crashed", str(exc))
    except FileNotFoundError as exc:  # its folder was erased (retention) before a worker got to it
        await _fail(state, job, "expired", f"the upload is gone: {exc.filename}")
    except TRANSIENT as exc:
        if job_try < state.max_tries:
            log.warning("web job %s: transient failure (%s), retrying", job.id, exc)
            raise Retry(defer=retry_delay_s(job_try)) from exc
        await _fail(state, job, "internal", f"gave up after {state.max_tries} tries: {exc}")
    except Exception as exc:  # a bug: the record says what happened and the page shows a failure
        log.exception("web job %s crashed", job.id)
        await _fail(state, job, "internal", f"{type(exc).__name__}: {exc}")
    return "failed"


async def _fail(state: WorkerState, job: Job, code: str, error: str) -> None:
    log.info("web job %s failed: %s (%s)", job.id, code, error)
    async with state.session() as session:
        await update_job(session, job.id, status=JobStatus.failed, stage=None, error_code=code, error=error)


async def _process(state: WorkerState, job: Job) -> str:
    settings = state.settings
    files = WebFiles(settings.web_data_dir)
    public_id = job.public_id or ""
    started = time.perf_counter()
    path = files.original(public_id, job.kind)
    if not path.is_file():  # its folder was erased (retention) before a worker got to it
        raise FileNotFoundError(errno.ENOENT, "no such upload", str(path))
    stated_s = await asyncio.to_thread(probe_duration, path)  # what the file says; None when it does not
    # the pipeline and the spectrogram read the file by its path, as a stream: an upload is never held whole
    result = await _run_pipeline(state, job, str(path), stated_s)
    await _set_stage(state, job.id, "drawing")
    picture = await asyncio.to_thread(spectrograms_png, [str(path), result.voice_ogg])
    await asyncio.to_thread(write_atomically, files.spectrogram(public_id), picture)
    await asyncio.to_thread(write_atomically, files.cleaned(public_id), result.voice_ogg)
    total_ms = (time.perf_counter() - started) * 1000
    async with state.session() as session:
        await update_job(
            session,
            job.id,
            status=JobStatus.done,
            stage=None,
            transcript=result.transcript.text,
            segments=segments_record(result),
            language=result.transcript.language,
            duration_s=result.duration_s,
            timings_ms={**{k: round(v, 1) for k, v in result.timings_ms.items()}, "total": round(total_ms, 1)},
            error_code=None,
            error=None,
        )
    return "done"


async def _set_stage(state: WorkerState, job_id: int, stage: str) -> None:
    status = STAGE_STATUS.get(stage)
    async with state.session() as session:
        await update_job(session, job_id, stage=stage, **({"status": status} if status else {}))


async def _run_pipeline(state: WorkerState, job: Job, source: str, stated_s: float | None) -> PipelineResult:
    """The pipeline in the worker's pipeline process, within the time allowed for a note of the length the file
    states (the longest note's when it states none), as for Telegram notes; each stage is recorded on the job for
    the page to show."""
    settings = state.settings
    options = replace(state.options, strength=job.strength, language=job.transcribe_language)
    updates: list[asyncio.Task[None]] = []
    in_order = asyncio.Lock()  # waiters get it first come, first served: stages are recorded in their order

    async def record(stage: str) -> None:
        async with in_order:
            await _set_stage(state, job.id, stage)

    def on_stage(stage: str) -> None:
        updates.append(asyncio.create_task(record(stage)))

    try:
        return await state.pipeline.process(
            source,
            options,
            denoiser=job.denoiser_version or "none",
            whisper=job.whisper_version or settings.whisper_version,
            timeout_s=processing_timeout_s(stated_s, settings),
            on_stage=on_stage,
        )
    finally:
        await asyncio.gather(*updates, return_exceptions=True)
        await state.publish_loaded()
