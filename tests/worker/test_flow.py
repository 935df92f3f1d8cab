"""The one job flow with both ends stood in for: what it claims and leaves alone, the stages in their order, the
record it keeps, how it reads failures (the sink's reading first), and retries that release the job."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from arq import Retry
from arq.connections import create_pool
from sqlalchemy.ext.asyncio import AsyncSession

from core.choices import limit_db
from core.db.jobs import get_job
from core.db.models import Job, JobStatus, utcnow
from core.queue import redis_settings
from core.settings import Settings
from migrations import upgrade
from ml.errors import NoSpeech
from ml.pipeline import PipelineOptions, PipelineResult
from ml.transcriber import Segment, Transcript
from testkit.settings import redis_url
from worker.context import JobContext, WorkerNotStarted, job_context
from worker.flow import Audio, Clock, Failure, Route, RouteOpener, processing_timeout_s, record_done, run_job
from worker.runner import ModelSpec, PipelineCrashed, PipelineRunner, PipelineTimedOut
from worker.state import WorkerSetup, WorkerState

KEYS = itertools.count()
STAGES = ("decoding", "denoising", "transcribing", "encoding")
RESULT = PipelineResult(
    voice_ogg=b"OggS cleaned",
    transcript=Transcript("hello there", "en", 0.99, [Segment(0.0, 1.2345678, "hello there", -0.1, 0.01)]),
    duration_s=3.0,
    timings_ms={"decode": 1.04, "denoise": 2.0},
)


class StandInPipeline(PipelineRunner):
    """The pipeline process without a process: reports the four stages, then returns ``RESULT`` or raises."""

    def __init__(self) -> None:
        super().__init__(ModelSpec(Path("."), (), 1, "int8"))
        self.outcome: Exception | None = None
        self.calls: list[tuple[bytes | str, PipelineOptions, float]] = []

    async def load(self, denoiser: str, whisper: str) -> None:
        self.loaded = {"denoiser": denoiser, "whisper": whisper}

    async def process(
        self,
        data: bytes | str,
        options: PipelineOptions,
        *,
        denoiser: str,
        whisper: str,
        timeout_s: float,
        on_stage: Callable[[str], None] | None = None,
    ) -> PipelineResult:
        self.calls.append((data, options, timeout_s))
        for stage in STAGES:
            if on_stage is not None:
                on_stage(stage)
        await asyncio.sleep(0.3)  # a few heartbeats
        if self.outcome is not None:
            raise self.outcome
        return RESULT


@dataclass
class StandInSource:
    stage: str = "fetching"

    async def fetch(self) -> Audio:
        return Audio(b"the note", 7.0, {"fetch": 12.0})


@dataclass
class StandInSink:
    """Records what it is told; reads the failures in ``reading`` as they say."""

    state: WorkerState
    job_id: int
    reading: dict[type[Exception], Failure | Retry] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    clock: Clock | None = None

    async def reuse(self) -> None:
        return None

    async def stage(self, stage: str) -> None:
        await asyncio.sleep(0.05 if stage == "decoding" else 0)  # a slow first update still comes first
        self.events.append(stage)

    def busy(self) -> AbstractAsyncContextManager[object]:
        return contextlib.nullcontext()

    async def deliver(self, result: PipelineResult, clock: Clock) -> None:
        self.events.append("delivered")
        self.clock = clock
        await record_done(self.state, self.job_id, clock)

    def explain(self, exc: Exception) -> Failure | Retry | None:
        return self.reading.get(type(exc))

    async def failed(self, failure: Failure) -> None:
        self.events.append(f"told: {failure.code}")


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[WorkerState]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = Settings(_env_file=None, database_url=url, job_heartbeat_s=0.05, web_data_dir=tmp_path / "web")
    redis = await create_pool(redis_settings(redis_url((7, 10, 11, 12, 13, 14, 15))))
    setup = WorkerSetup(settings=settings, models=ModelSpec(Path("."), (), 1, "int8"), options=PipelineOptions(),
                        pipeline=StandInPipeline())  # fmt: skip
    state = await WorkerState.start(setup, redis)
    yield state
    await state.close()
    await redis.aclose()


def pipeline(state: WorkerState) -> StandInPipeline:
    assert isinstance(state.pipeline, StandInPipeline)
    return state.pipeline


async def add_job(state: WorkerState, **fields: object) -> int:
    async with state.session() as session:
        job = Job(key=f"test:{next(KEYS)}", kind="voice", **fields)
        session.add(job)
        await session.commit()
        return job.id


async def load(state: WorkerState, job_id: int) -> Job:
    async with state.session() as session:
        job = await get_job(session, job_id)
    assert job is not None
    return job


def opener(sinks: list[StandInSink], reading: dict[type[Exception], Failure | Retry] | None = None) -> RouteOpener:
    """A route opener handing out a stand-in source and a stand-in sink (kept in ``sinks``) that reads ``reading``."""

    async def open_route(state: WorkerState, session: AsyncSession, job: Job) -> Route:
        sink = StandInSink(state, job.id, reading or {})
        sinks.append(sink)
        return Route(StandInSource(), sink, language=job.transcribe_language)

    return open_route


async def test_a_job_goes_from_its_source_through_its_stages_to_its_sink(state: WorkerState) -> None:
    job_id = await add_job(state, strength="gentle", transcribe_language="de", language_hint="en")
    sinks: list[StandInSink] = []
    outcome = await run_job(JobContext(state), job_id, source="telegram", route=opener(sinks))
    assert outcome == "done"
    (sink,) = sinks
    assert sink.events == ["fetching", *STAGES, "delivered"]  # each stage in its order
    ((data, options, timeout_s),) = pipeline(state).calls
    assert data == b"the note" and timeout_s == processing_timeout_s(7.0, state.settings)
    assert (options.limit_db, options.language, options.language_hint) == (limit_db("gentle"), "de", "en")
    job = await load(state, job_id)
    assert job.status == JobStatus.done and job.finished_at is not None and job.error is None
    assert job.worker == state.name and job.attempts == 1 and job.started_at is not None
    assert (job.denoiser_version, job.whisper_version) == (
        state.settings.denoiser_version,
        state.settings.whisper_version,
    )
    assert job.timings_ms is not None and job.timings_ms.keys() == {"fetch", "decode", "denoise", "total"}
    assert job.timings_ms["decode"] == 1.0 and job.timings_ms["total"] >= 300
    assert job.heartbeat_at is not None and job.heartbeat_at > job.started_at  # it kept beating while it ran


async def test_what_is_not_this_workers_to_do_is_left_alone(state: WorkerState) -> None:
    done = await add_job(state, status=JobStatus.done)
    held = await add_job(state, worker="elsewhere:1", heartbeat_at=utcnow())
    web = await add_job(state, source="web")
    sinks: list[StandInSink] = []
    route = opener(sinks)
    assert await run_job(JobContext(state), done, source="telegram", route=route) == "already done"
    assert await run_job(JobContext(state), held, source="telegram", route=route) == "held by another worker"
    assert await run_job(JobContext(state), web, source="telegram", route=route) == "missing"
    assert await run_job(JobContext(state), 999, source="telegram", route=route) == "missing"
    assert not sinks and not pipeline(state).calls
    assert (await load(state, held)).worker == "elsewhere:1"
    # a held job whose worker stopped beating is taken over
    stale = await add_job(state, worker="dead:1", heartbeat_at=utcnow() - dt.timedelta(minutes=5))
    assert await run_job(JobContext(state), stale, source="telegram", route=route) == "done"


async def test_a_transient_failure_is_retried_after_a_release_until_the_last_try(state: WorkerState) -> None:
    job_id = await add_job(state)
    pipeline(state).outcome = ConnectionError("database restarting")
    sinks: list[StandInSink] = []
    with pytest.raises(Retry) as retry:
        await run_job(JobContext(state, attempt=2), job_id, source="telegram", route=opener(sinks))
    assert retry.value.defer_score == 10_000
    job = await load(state, job_id)
    assert job.status == JobStatus.queued and job.heartbeat_at is None  # free for the retry, on any worker
    assert "told: internal" not in sinks[0].events
    outcome = await run_job(JobContext(state, attempt=state.max_tries), job_id, source="telegram", route=opener(sinks))
    assert outcome == "failed: internal" and sinks[1].events[-1] == "told: internal"
    job = await load(state, job_id)
    assert job.status == JobStatus.failed and job.error == f"gave up after {state.max_tries} tries: database restarting"


@pytest.mark.parametrize(
    ("failure", "code", "error"),
    [
        (NoSpeech("no speech found"), "no_speech", "no speech found"),
        (PipelineTimedOut("processing took longer than 67 s"), "timeout", "processing took longer than 67 s"),
        (
            PipelineCrashed("the pipeline process died (exit code -9)"),
            "crashed",
            "the pipeline process died (exit code -9)",
        ),
        (ValueError("a bug"), "internal", "ValueError: a bug"),
        (KeyError("what the sink knows"), "its_own", "read by the sink"),
    ],
    ids=["no speech", "time limit", "crash", "bug", "read by the sink"],
)
async def test_a_failure_is_recorded_and_told(state: WorkerState, failure: Exception, code: str, error: str) -> None:
    job_id = await add_job(state)
    pipeline(state).outcome = failure
    sinks: list[StandInSink] = []
    route = opener(sinks, {KeyError: Failure("its_own", "read by the sink")})
    assert await run_job(JobContext(state), job_id, source="telegram", route=route) == f"failed: {code}"
    assert sinks[0].events[-1] == f"told: {code}"
    job = await load(state, job_id)
    assert (job.status, job.error_code, job.error, job.stage) == (JobStatus.failed, code, error, None)


async def test_the_sink_may_ask_for_a_retry_of_its_own(state: WorkerState) -> None:
    job_id = await add_job(state)
    pipeline(state).outcome = KeyError("wait")
    route = opener([], {KeyError: Retry(defer=3)})
    with pytest.raises(Retry) as retry:
        await run_job(JobContext(state, attempt=state.max_tries), job_id, source="telegram", route=route)
    assert retry.value.defer_score == 3000 and (await load(state, job_id)).heartbeat_at is None


async def test_jobs_read_arqs_context_through_one_accessor(state: WorkerState) -> None:
    assert job_context({"state": state, "job_try": 3}) == JobContext(state, attempt=3)
    assert job_context({"state": state}).attempt == 1  # a cron job run by hand
    with pytest.raises(WorkerNotStarted):
        job_context({"setup": None})


async def test_the_heartbeat_is_over_when_the_job_is(state: WorkerState) -> None:
    # a beat cut short but not awaited could still hold a database connection when the worker closes its engine
    job_id = await add_job(state)
    assert await run_job(JobContext(state), job_id, source="telegram", route=opener([])) == "done"
    beats = [task for task in asyncio.all_tasks() if getattr(task.get_coro(), "__qualname__", "") == "_keep_beating"]
    assert beats == []
