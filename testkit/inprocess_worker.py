"""An arq worker in the test's own event loop, sharing the session's warm models: started until it has published the
models it loaded, stopped so that a job still running at the end of a test cannot leak a ``CancelledError`` into
pytest's teardown (it would break the runner's state for every later test in that process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from arq.connections import ArqRedis
from arq.worker import Worker

from core.fleet import LOADED_KEY
from core.settings import Settings
from voicebot import wiring
from worker.main import make_worker
from worker.runner import PipelineRunner

SETTLE_S = 3.0  # how long a job still running at the end of a test is given to finish before it is cancelled


@asynccontextmanager
async def inprocess_worker(settings: Settings, pipeline: PipelineRunner, arq: ArqRedis) -> AsyncIterator[Worker]:
    """A worker for ``settings`` polling every 50 ms; ready once it has published its loaded models in ``arq`` and
    recorded its health (arq does that after its first poll, not at start-up: a test right after start-up found
    no health key under load)."""
    worker = make_worker(wiring.worker_setup(settings, pipeline=pipeline), handle_signals=False, poll_delay=0.05)
    task = asyncio.create_task(worker.async_run())
    for _ in range(600):
        if (await arq.keys(LOADED_KEY + "*") and await arq.exists(worker.health_check_key)) or task.done():
            break
        await asyncio.sleep(0.05)
    try:
        yield worker
    finally:
        await stop_worker(worker, task)


async def stop_worker(worker: Worker, task: asyncio.Task[None]) -> None:
    """Let running jobs finish (up to ``SETTLE_S``), then close the worker; its jobs' cancellation stays inside."""
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while any(not job.done() for job in worker.tasks.values()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    try:
        await worker.close()  # gathers the jobs it has just cancelled: their CancelledError comes out here
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the test itself is being cancelled: let it go
        await asyncio.gather(*worker.tasks.values(), return_exceptions=True)  # the rest, cancelled too, finish
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
