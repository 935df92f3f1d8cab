"""Users and their settings: created on first contact, changed in /settings, forgotten on /forget."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Job, User


async def upsert_user(session: AsyncSession, user_id: int, telegram_language: str | None) -> User:
    """The user, created on first contact; Telegram's language is refreshed every time."""
    user = await session.get(User, user_id)
    if user is None:
        user = User(id=user_id, telegram_language=telegram_language)
        session.add(user)
        try:
            await session.commit()
        except IntegrityError:  # created concurrently by another update
            await session.rollback()
            user = await session.get(User, user_id)
            if user is None:
                raise RuntimeError(f"user {user_id} was created concurrently but cannot be read back") from None
    elif telegram_language and user.telegram_language != telegram_language:
        user.telegram_language = telegram_language
        await session.commit()
    return user


async def update_user(session: AsyncSession, user_id: int, **fields: Any) -> User:
    """Change a user's settings."""
    user = await session.get(User, user_id)
    if user is None:
        raise LookupError(f"user {user_id} not found")
    for name, value in fields.items():
        setattr(user, name, value)
    await session.commit()
    return user


async def forget_user(session: AsyncSession, user_id: int) -> int:
    """Delete a user's jobs (transcripts, file references) and settings; returns how many jobs went."""
    jobs = await session.scalar(select(func.count()).select_from(Job).where(Job.user_id == user_id))
    await session.execute(delete(Job).where(Job.user_id == user_id))
    await session.execute(delete(User).where(User.id == user_id))
    await session.commit()
    return int(jobs or 0)
