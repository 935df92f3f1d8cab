"""The buttons under every result ("Subtitles", "Text file", "Stronger cleaning"): the worker attaches them, the bot
answers them. Their state is the job's record, so they keep working after any restart."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from core.choices import STRONGEST
from core.texts import t


class ResultAction(CallbackData, prefix="res"):
    action: str  # subtitles, text, stronger
    job_id: int


def result_keyboard(job_id: int, strength: str, lang: str) -> InlineKeyboardMarkup:
    """The buttons for job ``job_id``'s result; "Stronger cleaning" only for a note cleaned less than strongly."""
    builder = InlineKeyboardBuilder()
    builder.button(text=t("button_subtitles", lang), callback_data=ResultAction(action="subtitles", job_id=job_id))
    builder.button(text=t("button_text_file", lang), callback_data=ResultAction(action="text", job_id=job_id))
    if strength != STRONGEST:
        builder.button(text=t("button_stronger", lang), callback_data=ResultAction(action="stronger", job_id=job_id))
    return InlineKeyboardMarkup(inline_keyboard=builder.adjust(2).export())
