"""Middlewares: every update gets its user record and interface language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.repo import upsert_user
from core.texts import pick_language


class UserMiddleware(BaseMiddleware):
    """Opens a session, records the user on first contact, and passes ``session``, ``user`` and ``lang``."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender = data.get("event_from_user")
        async with self.sessionmaker() as session:
            data["session"] = session
            data["lang"] = pick_language(None, sender.language_code if sender else None)
            if sender is not None:
                user = await upsert_user(session, sender.id, sender.language_code)
                data["user"] = user
                data["lang"] = pick_language(user.ui_language, user.telegram_language)
            return await handler(event, data)
