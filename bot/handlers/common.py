"""/start, /help, and the short help for anything that is not audio."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandStart
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import User
from core.db.users import forget_user
from core.settings import Settings
from core.texts import t


async def start(message: Message, lang: str) -> None:
    await message.answer(t("start", lang))


async def help_(message: Message, lang: str, settings: Settings) -> None:
    limits = t("help", lang, max_mb=settings.max_file_mb, max_min=settings.max_duration_s / 60)
    await message.answer(f"{limits}\n\n{t('group_help', lang)}")


async def forget(message: Message, session: AsyncSession, user: User, lang: str) -> None:
    """Delete everything kept about the sender: jobs, transcripts, stored results, settings."""
    count = await forget_user(session, user.id)
    await message.answer(t("forgot", lang, count=count))


async def not_audio(message: Message, lang: str) -> None:
    """Stickers, photos, text, other files: a short help."""
    await message.reply(t("not_audio", lang))


def build_router() -> Router:
    """/start and /help."""
    router = Router(name="common")
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(forget, Command("forget"))
    return router


def build_fallback() -> Router:
    """Anything no other router took, in a private chat: a short help (in groups the bot speaks only when asked).
    Include it last."""
    router = Router(name="fallback")
    router.message.register(not_audio, F.chat.type == ChatType.PRIVATE)
    return router
