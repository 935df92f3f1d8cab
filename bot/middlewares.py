"""Middlewares: the updates being handled are counted (a stopping bot waits for them); one chat's updates are
handled in the order they came; every update gets its user record and interface language."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db.users import upsert_user
from core.texts import pick_language


class InFlight(BaseMiddleware):
    """Counts the updates being handled, so that a bot taking updates by long polling can let them finish before it
    closes its connections: Telegram forgets an update once the next ``getUpdates`` asks past it, which aiogram
    does while the handlers of the last batch still run, so an update abandoned at a stop would be lost."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        self.count += 1
        self._idle.clear()
        try:
            return await handler(event, data)
        finally:
            self.count -= 1
            if not self.count:
                self._idle.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until no update is being handled (at most ``timeout`` seconds); False if some still are."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ChatOrder(BaseMiddleware):
    """Handles one chat's updates one at a time, in the order Telegram sent them (other chats' run meanwhile): a
    batch of forwarded notes is recorded and queued in order, so it is answered in order. aiogram starts a task
    per update in arrival order, and an ``asyncio.Lock`` lets waiters in first come, first served."""

    def __init__(self) -> None:
        self.locks: dict[int, tuple[asyncio.Lock, int]] = {}  # chat → its lock, and how many updates hold or wait

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat = data.get("event_chat")
        if chat is None:
            return await handler(event, data)
        lock, users = self.locks.get(chat.id, (asyncio.Lock(), 0))
        self.locks[chat.id] = (lock, users + 1)
        try:
            async with lock:
                return await handler(event, data)
        finally:
            lock, users = self.locks[chat.id]
            if users == 1:  # the last one: forget the chat
                del self.locks[chat.id]
            else:
                self.locks[chat.id] = (lock, users - 1)


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
