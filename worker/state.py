"""What a worker holds while it runs: built once in arq's ``on_startup``, closed in ``on_shutdown``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from aiogram import Bot
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.catalog import FAMILIES
from core.db.admin import get_active_models
from core.db.engine import make_engine, make_sessionmaker
from core.fleet import LOADED_KEY, UNRUNNABLE_KEY, unrunnable_note
from core.settings import Settings
from core.telegram import make_bot
from ml.pipeline import PipelineOptions
from worker.runner import ModelSpec, PipelineRunner

log = logging.getLogger(__name__)
MAX_TRIES = 5
LOADED_TTL_S = 3600


def _unrunnable(models: ModelSpec) -> dict[str, dict[str, str]]:
    """The registered versions this installation cannot run, and why (``ml.registry.Registry.unavailable``)."""
    registry = models.registry()
    return {
        family: {v.name: why for v in registry.versions(family) if (why := registry.unavailable(v)) is not None}
        for family in FAMILIES
    }


class NoTelegramBot(RuntimeError):
    """A Telegram note reached a worker started without ``TELEGRAM_BOT_TOKEN`` (it serves web uploads only)."""


@dataclass(frozen=True)
class WorkerSetup:
    """What the composition root gives a worker: settings, how to build its models, the processing defaults."""

    settings: Settings
    models: ModelSpec
    options: PipelineOptions  # the settings' defaults; each job sets its user's strength and language
    pipeline: PipelineRunner | None = None  # a warm pipeline process to share (tests); else the worker starts one


@dataclass
class WorkerState:
    """The worker's connections and its pipeline process; every job reads what it needs from here."""

    settings: Settings
    options: PipelineOptions
    redis: ArqRedis
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    bot: Bot | None  # None without TELEGRAM_BOT_TOKEN: such a worker serves web uploads only
    pipeline: PipelineRunner
    owns_pipeline: bool
    name: str
    max_tries: int = MAX_TRIES
    unrunnable: dict[str, dict[str, str]] = field(default_factory=dict)  # family → version → why not here

    @classmethod
    async def start(cls, setup: WorkerSetup, redis: ArqRedis) -> WorkerState:
        """Connect to the database and the Bot API, start the pipeline's process and load the active models."""
        engine = make_engine(setup.settings.database_url)
        state = cls(
            settings=setup.settings,
            options=setup.options,
            redis=redis,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            bot=make_bot(setup.settings) if setup.settings.telegram_bot_token else None,
            pipeline=setup.pipeline or PipelineRunner(setup.models),
            owns_pipeline=setup.pipeline is None,
            name=f"{socket.gethostname()}:{os.getpid()}",
            unrunnable=_unrunnable(setup.models),
        )
        active = await state.active_models()
        await state.pipeline.load(active["denoiser"], active["whisper"])
        await state.publish_loaded()
        log.info("worker %s ready with %s", state.name, active)
        return state

    def telegram_bot(self) -> Bot:
        """The Bot API client; ``NoTelegramBot`` on a worker without a token."""
        if self.bot is None:
            raise NoTelegramBot("this worker has no TELEGRAM_BOT_TOKEN: it cannot answer Telegram notes")
        return self.bot

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A database session (use with ``async with``)."""
        return self.sessionmaker()

    async def active_models(self) -> dict[str, str]:
        """The model versions admins chose (the settings' defaults until they do)."""
        async with self.session() as session:
            return await get_active_models(session, self.settings.default_models)

    async def publish_loaded(self) -> None:
        """Tell admins (via Redis) which versions this worker holds in memory (for /models) and which it cannot run
        (a switch to one of those is refused)."""
        await self.redis.set(LOADED_KEY + self.name, json.dumps(self.pipeline.loaded), ex=LOADED_TTL_S)
        await self.redis.set(UNRUNNABLE_KEY + self.name, unrunnable_note(self.unrunnable), ex=LOADED_TTL_S)

    async def close(self) -> None:
        """Withdraw the loaded-models note, close the Bot API session and the database, stop an own pipeline."""
        await self.redis.delete(LOADED_KEY + self.name, UNRUNNABLE_KEY + self.name)
        if self.bot is not None:
            await self.bot.session.close()
        await self.engine.dispose()
        if self.owns_pipeline:
            await asyncio.to_thread(self.pipeline.close)
