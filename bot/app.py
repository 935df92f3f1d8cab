"""The bot's wiring: Bot API client, dispatcher with routers and middlewares, and the two ways of taking updates
with their connections: long polling (the default) and a webhook server (``TELEGRAM_WEBHOOK_URL``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import BotCommand, ErrorEvent
from aiohttp import web
from arq import create_pool
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.handlers import admin, common, groups, results, voice
from bot.handlers import settings as settings_handlers
from bot.middlewares import ChatOrder, InFlight, UserMiddleware
from bot.webhook import webhook_app, webhook_secret
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
    dp = Dispatcher(settings=settings, arq=arq, catalog=catalog, in_flight=InFlight())
    dp.update.outer_middleware(dp["in_flight"])
    dp.update.outer_middleware(ChatOrder())
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


# how long updates in flight get to finish when the bot stops (under Docker's 10-s stop grace period)
SHUTDOWN_S = 8.0


@dataclass
class RunningBot:
    """A bot taking updates in a task (long polling, or a webhook server), with the database and queue connections
    its handlers use."""

    bot: Bot
    dispatcher: Dispatcher
    arq: ArqRedis
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    task: asyncio.Task[None]  # ends once the bot has stopped taking updates
    stop: Callable[[], Awaitable[None]]  # stop taking updates (a webhook server first finishes those in flight)


Connected = tuple[Bot, Dispatcher, ArqRedis, AsyncEngine, async_sessionmaker[AsyncSession]]


@asynccontextmanager
async def _connected(settings: Settings, catalog: ModelCatalog) -> AsyncIterator[Connected]:
    """The Bot API client, the dispatcher and the database and Redis its handlers use; all closed on leaving."""
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    arq = await create_pool(redis_settings(settings.redis_url))
    bot = make_bot(settings)
    try:
        yield bot, make_dispatcher(settings, sessionmaker, arq, catalog), arq, engine, sessionmaker
    finally:
        await bot.session.close()
        await arq.aclose()
        await engine.dispose()


async def _remove_webhook(bot: Bot) -> None:
    """Telegram answers getUpdates with 409 Conflict while a webhook is set: remove one left by webhook mode,
    keeping the updates Telegram holds for the bot."""
    if (await bot.get_webhook_info()).url:
        log.warning("a webhook was set; removing it to take updates by long polling (pending updates kept)")
        await bot.delete_webhook(drop_pending_updates=False)


@asynccontextmanager
async def polling(
    settings: Settings, catalog: ModelCatalog, *, handle_signals: bool = False, polling_timeout: int = 10
) -> AsyncIterator[RunningBot]:
    """Start long polling in a task (after removing a webhook left set); on leaving, stop it, let the updates being
    handled finish (up to ``SHUTDOWN_S``: Telegram will not deliver them again), and close the Bot API session,
    Redis and the database."""
    async with _connected(settings, catalog) as (bot, dispatcher, arq, engine, sessionmaker):
        await _remove_webhook(bot)
        task = asyncio.create_task(
            # the session is closed here once the updates being handled are done, not by aiogram as polling stops
            dispatcher.start_polling(
                bot, handle_signals=handle_signals, polling_timeout=polling_timeout, close_bot_session=False
            )
        )

        async def stop() -> None:
            with contextlib.suppress(RuntimeError):  # polling already stopped, or never started
                await dispatcher.stop_polling()

        try:
            yield RunningBot(bot, dispatcher, arq, engine, sessionmaker, task, stop)
        finally:
            await stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            in_flight: InFlight = dispatcher["in_flight"]
            if not await in_flight.drained(SHUTDOWN_S):
                log.error("stopping with %d updates still being handled after %s s", in_flight.count, SHUTDOWN_S)


@asynccontextmanager
async def webhook(
    settings: Settings, catalog: ModelCatalog, *, handle_signals: bool = False
) -> AsyncIterator[RunningBot]:
    """Serve the webhook (``bot.webhook.webhook_app``) on ``TELEGRAM_WEBHOOK_HOST:PORT`` at ``TELEGRAM_WEBHOOK_PATH``,
    then point Telegram at ``TELEGRAM_WEBHOOK_URL`` with the secret, the update types the handlers use, and the
    updates it holds kept. On leaving (or SIGINT/SIGTERM with ``handle_signals``): stop listening, finish the
    updates in flight (up to ``SHUTDOWN_S``), close the Bot API session, Redis and the database. The
    webhook stays set, as in aiogram's examples: Telegram keeps the updates that arrive while the bot restarts and
    delivers them once it listens again, and one replica stopping must not cut the others off."""
    url, path = settings.telegram_webhook_url, settings.telegram_webhook_path
    if url is None or path is None:
        raise ValueError("TELEGRAM_WEBHOOK_URL is not set")
    secret = webhook_secret(settings)
    async with _connected(settings, catalog) as (bot, dispatcher, arq, engine, sessionmaker):
        app = webhook_app(dispatcher, bot, secret=secret, path=path)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        stopping = asyncio.Event()

        async def serve() -> None:
            try:
                await stopping.wait()
            finally:
                await runner.cleanup()  # stops listening, then waits for the requests in flight

        task = asyncio.create_task(serve())

        async def stop() -> None:
            stopping.set()
            await asyncio.gather(task, return_exceptions=True)

        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
        try:
            for number in signals:
                loop.add_signal_handler(number, stopping.set)
            await web.TCPSite(runner, settings.telegram_webhook_host, settings.telegram_webhook_port).start()
            await bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=dispatcher.resolve_used_update_types(),
                drop_pending_updates=False,
            )
            yield RunningBot(bot, dispatcher, arq, engine, sessionmaker, task, stop)
        finally:
            await stop()
            for number in signals:
                loop.remove_signal_handler(number)


async def run_bot(settings: Settings, catalog: ModelCatalog) -> None:
    """Take updates until stopped (SIGINT or SIGTERM): from Telegram's webhook when ``TELEGRAM_WEBHOOK_URL`` is set,
    else by long polling; ``catalog`` names the model versions admins may choose."""
    runner: AbstractAsyncContextManager[RunningBot]
    if settings.telegram_webhook_url is not None:
        runner = webhook(settings, catalog, handle_signals=True)
        where = f"{settings.telegram_webhook_host}:{settings.telegram_webhook_port}"
        mode = f"webhook for {urlsplit(settings.telegram_webhook_url).hostname}, listening on {where}"
    else:
        runner = polling(settings, catalog, handle_signals=True)
        mode = "long polling"
    async with runner as running:
        await running.bot.set_my_commands(COMMANDS)
        log.info("bot started (%s); Bot API at %s", mode, settings.telegram_api_url)
        await running.task
