"""The Bot API client both the bot and the worker use."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from core.settings import Settings


def make_bot(settings: Settings) -> Bot:
    """A Bot API client for ``TELEGRAM_API_URL`` (Telegram's own server by default); with
    ``TELEGRAM_API_LOCAL`` it talks to a local server, whose ``getFile`` gives absolute paths on its disk."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    api = TelegramAPIServer.from_base(settings.telegram_api_url, is_local=settings.telegram_api_local)
    session = AiohttpSession(api=api)
    return Bot(settings.telegram_bot_token.get_secret_value(), session=session)
