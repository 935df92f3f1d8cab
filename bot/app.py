"""The bot's wiring: Bot API client, dispatcher with routers and middlewares, long polling with its connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import BotCommand, ErrorEvent
from arq import create_pool
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.handlers import admin, common, groups, results, voice
from bot.handlers import settings as settings_handlers
from bot.middlewares import UserMiddleware
from core.catalog import ModelCatalog
from core.db.engine import make_engine, make_sessionmaker
from core.queue import redis_settings
from core.settings import Settings
from core.telegram import make_bot
from core.texts import t

log = logging.getLogger(__name__)


async def _temporary_failure(event: ErrorEvent) -> None:
    """Database or Redis trouble: tell the user to retry instead of failing silently."""
    log.error("temporary failure while handling an update: %s", event.exception)
    message = event.update.message
    if message is not None:
        sender = message.from_user
        lang = (sender.language_code or "en")[:2] if sender else "en"
        await message.reply(t("try_later", lang))


def make_dispatcher(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], arq: ArqRedis, catalog: ModelCatalog
) -> Dispatcher:
    """Routers, middlewares and the shared objects handlers receive by name."""
    dp = Dispatcher(settings=settings, arq=arq, catalog=catalog)
    dp.update.outer_middleware(UserMiddleware(sessionmaker))
    dp.include_routers(
        common.build_router(),
        admin.build_router(),
        settings_handlers.build_router(),
        groups.build_router(),
        results.build_router(),
        voice.build_router(),
        common.build_fallback(),
    )
    dp.errors.register(_temporary_failure, ExceptionTypeFilter(SQLAlchemyError, RedisError, OSError))
    return dp


COMMANDS = [
    BotCommand(command="start", description="Start"),
    BotCommand(command="help", description="Help"),
    BotCommand(command="settings", description="Language, noise removal, reply format"),
    BotCommand(command="forget", description="Delete everything kept about you"),
    BotCommand(command="transcribe", description="In a group: reply to a voice note to transcribe it"),
    BotCommand(command="clean", description="In a group: reply to a note for its cleaned voice and text"),
]


@dataclass
class RunningBot:
    """A bot long-polling in a task, with the database and queue connections its handlers use."""

    bot: Bot
    dispatcher: Dispatcher
    arq: ArqRedis
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    task: asyncio.Task[None]


@asynccontextmanager
async def polling(
    settings: Settings, catalog: ModelCatalog, *, handle_signals: bool = False, polling_timeout: int = 10
) -> AsyncIterator[RunningBot]:
    """Start long polling in a task; on leaving, stop it and close the Bot API session, Redis and the database."""
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    arq = await create_pool(redis_settings(settings.redis_url))
    bot = make_bot(settings)
    dispatcher = make_dispatcher(settings, sessionmaker, arq, catalog)
    task = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=handle_signals, polling_timeout=polling_timeout)
    )
    try:
        yield RunningBot(bot, dispatcher, arq, engine, sessionmaker, task)
    finally:
        with contextlib.suppress(RuntimeError):  # polling already stopped, or never started
            await dispatcher.stop_polling()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bot.session.close()
        await arq.aclose()
        await engine.dispose()


async def run_bot(settings: Settings, catalog: ModelCatalog) -> None:
    """Long polling until stopped (SIGINT or SIGTERM); ``catalog`` names the model versions admins may choose."""
    async with polling(settings, catalog, handle_signals=True) as running:
        await running.bot.set_my_commands(COMMANDS)
        log.info("bot started; Bot API at %s", settings.telegram_api_url)
        await running.task
