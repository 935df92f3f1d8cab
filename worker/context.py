"""arq's context, typed: arq hands every job and hook a plain dict; this module is the one place that reads and
writes its keys. Jobs get a ``JobContext`` from it and never index the dict themselves."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import TypeVar

from arq.connections import ArqRedis

from worker.state import WorkerSetup, WorkerState

ArqContext = MutableMapping[str, object]  # what arq passes to jobs, crons and the startup and shutdown hooks

_SETUP = "setup"  # put there by ``initial_context``: what the worker was built with
_STATE = "state"  # put there by ``startup``, taken away by ``shutdown``
_REDIS = "redis"  # put there by arq: its connection pool
_JOB_TRY = "job_try"  # put there by arq for each run of a job: 1, then 2 on the first retry...

T = TypeVar("T")


class WorkerNotStarted(RuntimeError):
    """A job ran in a context that ``startup`` did not fill (the worker was not started through ``make_worker``)."""


@dataclass(frozen=True)
class JobContext:
    """What one run of a job (or a cron job) works with: the worker's state and which try of the job this is."""

    state: WorkerState
    attempt: int = 1


def initial_context(setup: WorkerSetup) -> dict[str, object]:
    """The context a worker starts with (arq's ``ctx`` option): its setup, for ``startup`` to build the state."""
    return {_SETUP: setup}


def job_context(ctx: Mapping[str, object]) -> JobContext:
    """The typed view of arq's context for one job run."""
    state = _typed(ctx, _STATE, WorkerState)
    attempt = ctx.get(_JOB_TRY, 1)
    return JobContext(state, attempt if isinstance(attempt, int) else 1)


async def startup(ctx: ArqContext) -> None:
    """arq's ``on_startup``: the worker's state, from the setup it was built with and arq's Redis pool."""
    ctx[_STATE] = await WorkerState.start(_typed(ctx, _SETUP, WorkerSetup), _typed(ctx, _REDIS, ArqRedis))


async def shutdown(ctx: ArqContext) -> None:
    """arq's ``on_shutdown``: close what ``startup`` opened (nothing when it failed before that)."""
    state = ctx.pop(_STATE, None)
    if isinstance(state, WorkerState):
        await state.close()


def _typed(ctx: Mapping[str, object], key: str, kind: type[T]) -> T:
    value = ctx.get(key)
    if not isinstance(value, kind):
        raise WorkerNotStarted(f"arq's context has no {kind.__name__} under {key!r}")
    return value
