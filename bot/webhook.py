"""Webhook mode's pieces, as aiogram documents them: the secret Telegram sends back with every update, and the
aiohttp application whose handler (aiogram's ``SimpleRequestHandler``) checks it and feeds the update to the
dispatcher."""

from __future__ import annotations

import hashlib
import hmac

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from core.settings import Settings


def webhook_secret(settings: Settings) -> str:
    """``TELEGRAM_WEBHOOK_SECRET``, or one derived from the token (HMAC-SHA256, 64 hex digits): the same for every
    restart and every replica of the bot, known only to whoever knows the token (who could reset the webhook
    anyway), and replaced with the token."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value().encode()
    return hmac.new(token, b"voicebot webhook secret", hashlib.sha256).hexdigest()


def webhook_app(dispatcher: Dispatcher, bot: Bot, *, secret: str, path: str) -> web.Application:
    """The aiohttp application serving ``POST path``: a request without ``secret`` in its
    ``X-Telegram-Bot-Api-Secret-Token`` header gets 401 and is not handled; any other is handled before it is
    answered (200 once the note is recorded and queued, so an update lost to a crash or a shutdown is one Telegram
    delivers again, and the job keys make a second delivery harmless); the dispatcher's start-up and shutdown hooks
    run with the application's."""
    app = web.Application()
    handler = SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token=secret)
    # the route alone, not handler.register(): that also closes the Bot API session on the application's shutdown
    # signal, which comes before the updates in flight are finished; the runner closes it after them
    app.router.add_post(path, handler.handle)
    setup_application(app, dispatcher, bot=bot)
    return app
