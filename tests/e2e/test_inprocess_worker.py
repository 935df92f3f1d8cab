"""The test stacks' in-process worker stops cleanly with a job still running: the job's cancellation stays inside
(in CI it escaped pytest's teardown as a CancelledError and broke every later test in that process)."""

from __future__ import annotations

import asyncio

from arq import create_pool
from arq.worker import Worker

from core.queue import redis_settings
from testkit.inprocess_worker import stop_worker
from testkit.stack import REDIS_URL

started = asyncio.Event()


async def sleeps_forever(ctx: dict) -> None:
    started.set()
    await asyncio.sleep(3600)


async def test_a_worker_with_jobs_still_running_stops_without_raising() -> None:
    arq = await create_pool(redis_settings(REDIS_URL))
    await arq.flushdb()
    worker = Worker(functions=[sleeps_forever], redis_pool=arq, handle_signals=False, poll_delay=0.05)
    task = asyncio.create_task(worker.async_run())
    try:
        await arq.enqueue_job("sleeps_forever")
        await asyncio.wait_for(started.wait(), 30)
        # a job cancelled before arq's handler wraps it (in its Redis preamble, or finishing) ends in CancelledError;
        # arq's close() gathers it and raises that CancelledError
        preamble = asyncio.create_task(asyncio.sleep(3600))
        worker.tasks["in-its-preamble"] = preamble
        await stop_worker(worker, task)
        assert task.done() and preamble.cancelled() and all(job.done() for job in worker.tasks.values())
    finally:
        await arq.flushdb()
        await arq.aclose()
