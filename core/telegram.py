"""The Bot API client both the bot and the worker use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod

from core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_bot(settings: Settings) -> Bot:
    """A Bot API client for ``TELEGRAM_API_URL`` (Telegram's own server by default); with
    ``TELEGRAM_API_LOCAL`` it talks to a local server, whose ``getFile`` gives absolute paths on its disk."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    api = TelegramAPIServer.from_base(settings.telegram_api_url, is_local=settings.telegram_api_local)
    session = AiohttpSession(api=api)
    return Bot(settings.telegram_bot_token.get_secret_value(), session=session)


async def within_limits(
    bot: Bot,
    method: TelegramMethod[T],
    *,
    budget_s: float,
    before_waiting: Callable[[], Awaitable[object]] | None = None,
) -> T:
    """``bot(method)``, waiting out Telegram's rate limits (429 with ``retry_after``) for up to ``budget_s`` seconds
    in all; raises the last ``TelegramRetryAfter`` when Telegram still asks to wait after that. ``before_waiting``
    runs before the first wait (e.g. to give a database connection back instead of holding it while asleep)."""
    waited = 0.0
    while True:
        try:
            return await bot(method)
        except TelegramRetryAfter as exc:
            if waited + exc.retry_after > budget_s:
                name = type(method).__name__
                log.warning("%s: Telegram asks to wait %s s more after %.0f s", name, exc.retry_after, waited)
                raise
            if before_waiting is not None and not waited:
                await before_waiting()
            await asyncio.sleep(exc.retry_after)
            waited += exc.retry_after
