"""/settings: transcription language, noise removal, reply mode and interface language, per user."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from core.choices import REPLY_MODES, STRENGTHS, TRANSCRIBE_LANGUAGES
from core.db.models import User
from core.db.users import update_user
from core.settings import Settings
from core.texts import LANGUAGES, pick_language, t


class SettingsAction(CallbackData, prefix="set"):
    field: str  # language_menu, language, strength, reply, ui, back
    value: str = ""


def strength_of(user: User, settings: Settings) -> str:
    """The noise removal this user gets: their choice, else the admins' default."""
    return user.strength or settings.denoiser_strength


def settings_text(user: User, lang: str, settings: Settings) -> str:
    return t(
        "settings",
        lang,
        language=user.transcribe_language or t("language_auto", lang),
        denoise=t(f"strength_{strength_of(user, settings)}", lang),
        reply=t(f"reply_{user.reply_mode}", lang),
        ui=lang,
    )


def main_keyboard(user: User, lang: str, settings: Settings) -> InlineKeyboardMarkup:
    other_ui = next(code for code in LANGUAGES if code != lang)
    other_reply = next(mode for mode in REPLY_MODES if mode != user.reply_mode)
    strength = strength_of(user, settings)
    following = STRENGTHS[(STRENGTHS.index(strength) + 1) % len(STRENGTHS)]
    state = t(f"strength_{strength}", lang)
    builder = InlineKeyboardBuilder()
    builder.button(text=t("button_language", lang), callback_data=SettingsAction(field="language_menu"))
    builder.button(
        text=t("button_denoise", lang, state=state), callback_data=SettingsAction(field="strength", value=following)
    )
    builder.button(
        text=t("button_reply", lang, mode=t(f"reply_{user.reply_mode}", lang)),
        callback_data=SettingsAction(field="reply", value=other_reply),
    )
    builder.button(text=t("button_ui", other_ui), callback_data=SettingsAction(field="ui", value=other_ui))
    return InlineKeyboardMarkup(inline_keyboard=builder.adjust(1).export())


def language_keyboard(lang: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in TRANSCRIBE_LANGUAGES:
        text = t("language_auto", lang) if code == "auto" else code
        builder.button(text=text, callback_data=SettingsAction(field="language", value=code))
    builder.button(text=t("button_back", lang), callback_data=SettingsAction(field="back"))
    rows, rest = divmod(len(TRANSCRIBE_LANGUAGES), 4)
    return InlineKeyboardMarkup(inline_keyboard=builder.adjust(*[4] * rows, *([rest] if rest else []), 1).export())


async def show_settings(message: Message, user: User, lang: str, settings: Settings) -> None:
    await message.answer(settings_text(user, lang, settings), reply_markup=main_keyboard(user, lang, settings))


async def language_menu(query: CallbackQuery, lang: str) -> None:
    if not isinstance(query.message, Message):  # too old for Telegram to let us edit it
        await query.answer(t("menu_expired", lang))
        return
    await query.message.edit_reply_markup(reply_markup=language_keyboard(lang))
    await query.answer()


async def change_setting(
    query: CallbackQuery, callback_data: SettingsAction, session: AsyncSession, user: User, settings: Settings
) -> None:
    field, value = callback_data.field, callback_data.value
    if field == "language" and value in TRANSCRIBE_LANGUAGES:
        user = await update_user(session, user.id, transcribe_language=None if value == "auto" else value)
    elif field == "strength" and value in STRENGTHS:
        user = await update_user(session, user.id, strength=value)
    elif field == "reply" and value in REPLY_MODES:
        user = await update_user(session, user.id, reply_mode=value)
    elif field == "ui" and value in LANGUAGES:
        user = await update_user(session, user.id, ui_language=value)
    lang = pick_language(user.ui_language, user.telegram_language)
    if not isinstance(query.message, Message):  # saved, but the menu is too old to redraw
        await query.answer(t("menu_expired", lang))
        return
    await query.message.edit_text(settings_text(user, lang, settings), reply_markup=main_keyboard(user, lang, settings))
    await query.answer(t("saved", lang))


def build_router() -> Router:
    """/settings and its buttons."""
    router = Router(name="settings")
    router.message.register(show_settings, Command("settings"))
    router.callback_query.register(language_menu, SettingsAction.filter(F.field == "language_menu"))
    router.callback_query.register(change_setting, SettingsAction.filter())
    return router
