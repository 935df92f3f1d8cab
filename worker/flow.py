"""The one job flow, whatever a job's audio source and its answer's destination: load and claim the job, keep its
heartbeat, run the pipeline within the note's time limit, hand the result over, and turn a failure into a recorded
reason the user is told (or, when transient, into a retry that releases the job first).

Idempotent: a job reloads its record and skips finished work, and its destination records what it sent as it goes.

A job's two ends are small interfaces: an ``AudioSource`` (where the audio comes from: ``worker/sources.py``) and a
``ResultSink`` (where the answer goes and who is told how it goes: ``worker/sinks.py``); ``worker/jobs.py`` pairs
them for arq's job functions."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from arq import Retry
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from core.choices import limit_db
from core.db.admin import get_active_models
from core.db.claims import claim_job, heartbeat, release_job
from core.db.jobs import get_job, update_job
from core.db.models import Job, JobStatus, utcnow
from core.settings import Settings
from ml.errors import AudioError
from ml.pipeline import PipelineResult
from worker.context import JobContext
from worker.runner import PipelineCrashed, PipelineTimedOut
from worker.state import WorkerState

log = logging.getLogger(__name__)

TRANSIENT = (TelegramNetworkError, TelegramServerError, OperationalError, ConnectionError, TimeoutError)
# a stage's job status (the bot's and the page's "working", the rescue's "in progress"); other stages keep the status
STAGE_STATUS = {
    "downloading": JobStatus.downloading,
    "decoding": JobStatus.downloading,
    "denoising": JobStatus.denoising,
    "transcribing": JobStatus.transcribing,
    "encoding": JobStatus.transcribing,
}


class JobSkipped(Exception):
    """Nothing to do for this job; ``str()`` says why (arq's result): missing, finished, held by a live worker."""


@dataclass(frozen=True)
class Audio:
    """A job's audio as its source hands it to the pipeline."""

    data: bytes | str  # the file's bytes, or a path the pipeline reads as a stream
    stated_s: float | None  # the length the file (or Telegram) states; None: unknown, the longest note's limit holds
    timings_ms: Mapping[str, float] = field(default_factory=dict)  # what getting it took, by step


@dataclass(frozen=True)
class Failure:
    """Why a job failed: ``code`` (recorded; what the user is told), ``error`` (the details recorded), ``values``
    (filled into what the user is told)."""

    code: str
    error: str
    values: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Clock:
    """When a job's processing started (``time.perf_counter``) and what its steps took (ms), for its record."""

    started: float
    steps_ms: Mapping[str, float]

    def elapsed_s(self) -> float:
        """Seconds since the job started."""
        return time.perf_counter() - self.started

    def timings_ms(self, total_s: float) -> dict[str, float]:
        """The record's timings: each step's and the total, in ms to a tenth."""
        return {**{step: round(ms, 1) for step, ms in self.steps_ms.items()}, "total": round(total_s * 1000, 1)}


@dataclass(frozen=True)
class Answer:
    """What a job keeps of its result: the transcript, Whisper's segments (times in s to the ms, and text, for
    subtitles), the language heard and the note's length."""

    transcript: str
    segments: list[dict[str, Any]]
    language: str | None
    duration_s: float

    @classmethod
    def of(cls, result: PipelineResult) -> Answer:
        """The answer in a pipeline's result."""
        segments = [
            {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in result.transcript.segments
        ]
        return cls(result.transcript.text, segments, result.transcript.language, result.duration_s)

    @classmethod
    def stored(cls, job: Job) -> Answer:
        """The answer a finished job keeps."""
        return cls(job.transcript or "", job.segments or [], job.language, job.duration_s or 0.0)

    def fields(self) -> dict[str, object]:
        """The answer as the record's fields."""
        return {"transcript": self.transcript, "segments": self.segments, "language": self.language,
                "duration_s": self.duration_s}  # fmt: skip


class AudioSource(Protocol):
    """Where a job's audio comes from."""

    @property
    def stage(self) -> str:
        """The stage a job is in while its audio is fetched."""
        ...

    async def fetch(self) -> Audio:
        """The audio (its bytes, or the path of a file the worker can read)."""
        ...


class ResultSink(Protocol):
    """Where a job's answer goes, and who is told how the job goes."""

    async def reuse(self) -> str | None:
        """Answer from an earlier job's stored result when one fits, returning arq's result; ``None``: run the job."""
        ...

    async def stage(self, stage: str) -> None:
        """The job entered ``stage`` (its source's, then the pipeline's): record it and show it."""
        ...

    def busy(self) -> AbstractAsyncContextManager[object]:
        """Held while the pipeline runs."""
        ...

    async def deliver(self, result: PipelineResult, clock: Clock) -> None:
        """Hand the answer over and record the job as done (``record_done``)."""
        ...

    def explain(self, exc: Exception) -> Failure | Retry | None:
        """What a failure this destination knows of means (its channel's own errors); ``None``: the flow's reading."""
        ...

    async def failed(self, failure: Failure) -> None:
        """Tell whoever waits why the job failed (its record says so already)."""
        ...


@dataclass(frozen=True)
class Route:
    """One job's two ends, and the language its note is transcribed in (``None``: detected)."""

    source: AudioSource
    sink: ResultSink
    language: str | None = None


# opens a claimed job's route, in the session that loaded it; ``JobSkipped`` when there is no one to answer
RouteOpener = Callable[[WorkerState, AsyncSession, Job], Awaitable[Route]]


def processing_timeout_s(duration_s: float | None, settings: Settings) -> float:
    """Time allowed for one note's processing: by default a minute plus its length (RTF 1, far above the measured
    0.15); a note whose length is not stated is allowed what the longest note would be."""
    return settings.processing_time_base_s + settings.processing_time_per_audio_s * (
        duration_s or settings.max_duration_s
    )


def retry_delay_s(job_try: int) -> int:
    """Back-off for transient failures: 5, 10, 20, 40, 60 s."""
    return min(60, 5 * 2 ** (job_try - 1))


async def run_job(context: JobContext, job_id: int, *, source: str, route: RouteOpener) -> str:
    """Run job ``job_id`` (a job of ``source``: ``telegram`` or ``web``) between the ends ``route`` opens, holding
    it with a heartbeat; returns arq's result, a few words on what happened."""
    state = context.state
    try:
        job, ends = await _claim(state, job_id, source, route)
    except JobSkipped as skipped:
        return str(skipped)
    beating = asyncio.create_task(_keep_beating(state, job.id))
    try:
        return await _attempt(state, job, ends, context.attempt)
    except Retry:
        await _release(state, job.id)
        raise
    finally:
        beating.cancel()
        # awaited, so that a beat cut short gives its database connection back before the job is over (else a
        # worker closing its engine next could leave the beat waiting on a connection that is gone)
        await asyncio.gather(beating, return_exceptions=True)


async def record_job(state: WorkerState, job_id: int, **fields: object) -> None:
    """Write ``fields`` on job ``job_id``'s record."""
    async with state.session() as session:
        await update_job(session, job_id, **fields)


async def record_done(state: WorkerState, job_id: int, clock: Clock, **fields: object) -> float:
    """Record job ``job_id`` as done, with its timings (and ``fields``); returns the seconds it took."""
    total_s = clock.elapsed_s()
    await record_job(state, job_id, status=JobStatus.done, timings_ms=clock.timings_ms(total_s), error_code=None,
                     error=None, **fields)  # fmt: skip
    return total_s


def stage_status(stage: str) -> dict[str, JobStatus]:
    """The record's ``status`` field for ``stage``, when that stage changes it."""
    status = STAGE_STATUS.get(stage)
    return {"status": status} if status is not None else {}


async def _claim(state: WorkerState, job_id: int, source: str, route: RouteOpener) -> tuple[Job, Route]:
    """Load and claim the job, record its start and the model versions it runs with, and open its route."""
    settings = state.settings
    async with state.session() as session:
        job = await get_job(session, job_id)
        if job is None or job.source != source:
            log.warning("%s job %s not found", source, job_id)
            raise JobSkipped("missing")
        if job.status.finished:
            raise JobSkipped(f"already {job.status.value}")
        stale_before = utcnow() - dt.timedelta(seconds=settings.job_stale_after_s)
        if not await claim_job(session, job.id, state.name, stale_before=stale_before):
            raise JobSkipped("held by another worker")
        active = await get_active_models(session, settings.default_models)
        await update_job(
            session,
            job.id,
            started_at=job.started_at or utcnow(),
            denoiser_version=active["denoiser"] if limit_db(job.strength) != 0 else "none",
            whisper_version=active["whisper"],
        )
        job = await get_job(session, job_id)
        if job is None:  # /forget deleted it meanwhile
            raise JobSkipped("missing")
        return job, await route(state, session, job)


async def _keep_beating(state: WorkerState, job_id: int) -> None:
    """Refresh the job's heartbeat while this worker holds it; a stale heartbeat means the worker died."""
    while True:
        await asyncio.sleep(state.settings.job_heartbeat_s)
        try:
            async with state.session() as session:
                await heartbeat(session, job_id, state.name)
        except OperationalError as exc:
            log.warning("job %s: heartbeat failed: %s", job_id, exc)


async def _release(state: WorkerState, job_id: int) -> None:
    """Free the job for its retry; if the database is down too, the rescue frees it once the heartbeat is stale."""
    with contextlib.suppress(OperationalError):
        async with state.session() as session:
            await release_job(session, job_id, state.name)


async def _attempt(state: WorkerState, job: Job, route: Route, attempt: int) -> str:
    """One try at the job; a failure becomes a recorded reason the user is told, or a ``Retry``."""
    try:
        return await _process(state, job, route)
    except Retry:
        raise
    except Exception as exc:  # the edge of the job: every failure is read, a bug's too, and the user answered
        verdict = route.sink.explain(exc) or _explain(exc, job.id, attempt, state.max_tries)
        if isinstance(verdict, Retry):
            raise verdict from exc
    log.info("job %s failed: %s (%s)", job.id, verdict.code, verdict.error)
    await record_job(state, job.id, status=JobStatus.failed, stage=None, error_code=verdict.code, error=verdict.error)
    await route.sink.failed(verdict)
    return f"failed: {verdict.code}"


def _explain(exc: Exception, job_id: int, attempt: int, max_tries: int) -> Failure | Retry:
    """The flow's reading of a failure: the user's audio, the time limit, a crash of the pipeline's process, a
    transient fault (retried while tries are left), or a bug."""
    if isinstance(exc, AudioError):
        return Failure(exc.code, str(exc))
    if isinstance(exc, PipelineTimedOut):
        return Failure("timeout", str(exc))
    if isinstance(exc, PipelineCrashed):
        return Failure("crashed", str(exc))
    if isinstance(exc, TRANSIENT):
        if attempt < max_tries:
            log.warning("job %s: transient failure (%s), retrying", job_id, exc)
            return Retry(defer=retry_delay_s(attempt))
        return Failure("internal", f"gave up after {max_tries} tries: {exc}")
    log.error("job %s crashed", job_id, exc_info=exc)
    return Failure("internal", f"{type(exc).__name__}: {exc}")


async def _process(state: WorkerState, job: Job, route: Route) -> str:
    """Fetch, clean and transcribe, deliver; or answer from a stored result."""
    started = time.perf_counter()
    reused = await route.sink.reuse()
    if reused is not None:
        return reused
    await route.sink.stage(route.source.stage)
    audio = await route.source.fetch()
    result = await _run_pipeline(state, job, route, audio)
    await route.sink.deliver(result, Clock(started, {**audio.timings_ms, **result.timings_ms}))
    return "done"


async def _run_pipeline(state: WorkerState, job: Job, route: Route, audio: Audio) -> PipelineResult:
    """The pipeline in the worker's pipeline process, within the time allowed for a note of the length stated (the
    process is killed past it); each stage goes to the sink, in order."""
    settings = state.settings
    options = replace(
        state.options, limit_db=limit_db(job.strength), language=route.language, language_hint=job.language_hint
    )
    in_order = asyncio.Lock()  # waiters get it first come, first served: stages reach the sink in their order
    updates: list[asyncio.Task[None]] = []

    async def show(stage: str) -> None:
        async with in_order:
            await route.sink.stage(stage)

    def on_stage(stage: str) -> None:
        updates.append(asyncio.create_task(show(stage)))

    try:
        async with route.sink.busy():
            return await state.pipeline.process(
                audio.data,
                options,
                denoiser=job.denoiser_version or "none",
                whisper=job.whisper_version or settings.whisper_version,
                timeout_s=processing_timeout_s(audio.stated_s, settings),
                on_stage=on_stage,
            )
    finally:
        await asyncio.gather(*updates, return_exceptions=True)
        await state.publish_loaded()
