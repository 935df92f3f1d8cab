"""Groups and supergroups: /transcribe and /clean as a reply to a note, and the chat admins' /auto, /language and
/reply. Commands reach a bot with privacy mode on, and a reply carries the note it answers, so all of this works
without the bot seeing every message."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.voice import group_request, is_group, note_of, private_request, submit
from core.choices import REPLY_COMMAND, TRANSCRIBE_LANGUAGES
from core.db.admin import audit
from core.db.chats import get_chat, update_chat
from core.db.models import User
from core.settings import Settings
from core.texts import t

CHAT_ADMINS = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR)
ON_OFF = {"on": True, "off": False}


async def transcribe(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    user: User,
    lang: str,
    settings: Settings,
    arq: ArqRedis,
) -> None:
    """/transcribe (or /clean, which sends the cleaned voice too) as a reply to a note: answer that note."""
    note = note_of(message.reply_to_message, lang) if message.reply_to_message else None
    if note is None:
        await message.reply(t("reply_to_a_note", lang, command=command.command))
        return
    voice = command.command == "clean"
    if is_group(message):
        request = group_request(user, await get_chat(session, message.chat.id), settings, voice=voice)
    else:
        request = private_request(user, settings)
    await submit(bot, note, session, user, lang, settings, arq, request)


async def is_chat_admin(bot: Bot, message: Message) -> bool:
    """Is the sender an administrator of this chat (asked of Telegram), or the chat itself (an anonymous admin)?"""
    if message.sender_chat is not None and message.sender_chat.id == message.chat.id:
        return True
    if message.from_user is None:
        return False
    member = await bot.get_chat_member(message.chat.id, message.from_user.id)
    return member.status in CHAT_ADMINS


async def _allowed(message: Message, bot: Bot, session: AsyncSession, lang: str, action: str) -> bool:
    """Chat settings are for the chat's admins: check, audit the attempt, and tell a non-admin why not."""
    allowed = await is_chat_admin(bot, message)
    await audit(session, _actor(message), action, f"chat {message.chat.id}: {message.text or ''}", allowed=allowed)
    if not allowed:
        await message.reply(t("chat_admins_only", lang))
    return allowed


async def auto(message: Message, command: CommandObject, bot: Bot, session: AsyncSession, lang: str) -> None:
    """/auto on|off: transcribe every note in this chat, or only when asked."""
    value = (command.args or "").strip().lower()
    if value not in ON_OFF:
        await message.reply(t("auto_usage", lang))
        return
    if await _allowed(message, bot, session, lang, "chat_auto"):
        await update_chat(session, message.chat.id, _actor(message), auto=ON_OFF[value])
        await message.reply(t(f"auto_{value}", lang))


async def language(message: Message, command: CommandObject, bot: Bot, session: AsyncSession, lang: str) -> None:
    """/language <code>|auto: the language notes in this chat are transcribed in."""
    value = (command.args or "").strip().lower()
    if value not in TRANSCRIBE_LANGUAGES:  # the languages /settings offers: Whisper knows each
        codes = ", ".join(code for code in TRANSCRIBE_LANGUAGES if code != "auto")
        await message.reply(t("chat_language_usage", lang, codes=codes))
        return
    if await _allowed(message, bot, session, lang, "chat_language"):
        await update_chat(
            session, message.chat.id, _actor(message), transcribe_language=None if value == "auto" else value
        )
        shown = t("language_auto", lang) if value == "auto" else value
        await message.reply(t("chat_language_set", lang, language=shown))


async def reply_mode(message: Message, command: CommandObject, bot: Bot, session: AsyncSession, lang: str) -> None:
    """/reply text|voice: what the bot sends back in this chat."""
    value = (command.args or "").strip().lower()
    if value not in REPLY_COMMAND:
        await message.reply(t("chat_reply_usage", lang))
        return
    if await _allowed(message, bot, session, lang, "chat_reply"):
        await update_chat(session, message.chat.id, _actor(message), reply_mode=REPLY_COMMAND[value])
        await message.reply(t("chat_reply_set", lang, mode=t(f"reply_{REPLY_COMMAND[value]}", lang)))


def _actor(message: Message) -> int:
    return message.from_user.id if message.from_user else message.chat.id


def build_router() -> Router:
    """/transcribe and /clean anywhere; the chat settings in groups only."""
    router = Router(name="groups")
    router.message.register(transcribe, Command("transcribe", "clean"))
    in_groups = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})
    router.message.register(auto, Command("auto"), in_groups)
    router.message.register(language, Command("language"), in_groups)
    router.message.register(reply_mode, Command("reply"), in_groups)
    return router
