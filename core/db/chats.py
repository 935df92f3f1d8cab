"""Group chats' settings, set by their admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Chat


async def get_chat(session: AsyncSession, chat_id: int) -> Chat | None:
    """A group's settings, or None when its admins never changed any."""
    return await session.get(Chat, chat_id, populate_existing=True)


async def update_chat(session: AsyncSession, chat_id: int, admin_id: int, **fields: Any) -> Chat:
    """Change a group's settings (created on first change) and commit."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        chat = Chat(id=chat_id)
        session.add(chat)
    for name, value in fields.items():
        setattr(chat, name, value)
    chat.updated_by = admin_id
    await session.commit()
    return chat
