"""Replies to the user: status edits, the cleaned voice, and the transcript as caption, messages or a file."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import SendDocument, SendMessage, SendVoice
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReplyParameters

from core.telegram import within_limits
from core.texts import t

log = logging.getLogger(__name__)

CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
MAX_TEXT_MESSAGES = 3  # longer transcripts go as a .txt document
# How long a message to the user waits out Telegram's rate limits in place (a chat's results stay in order); beyond
# it the job is retried after Telegram's delay.
SEND_WAIT_S = 60.0


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at paragraph, sentence or word boundaries into pieces of at most ``limit`` characters."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n"), window.rfind(". ") + 1, window.rfind("! ") + 1, window.rfind("? ") + 1)
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


class Replier:
    """Talks to one chat about one note, replying to the original message."""

    def __init__(self, bot: Bot, chat_id: int, message_id: int, status_message_id: int | None, lang: str) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.message_id = message_id
        self.status_message_id = status_message_id
        self.lang = lang
        self._last_status: str | None = None

    def _reply_to(self) -> ReplyParameters:
        return ReplyParameters(message_id=self.message_id, allow_sending_without_reply=True)

    async def status(self, key: str, **values: object) -> None:
        """Edit the status message to ``key``'s text (or send one when there is none)."""
        text = t(key, self.lang, **values)
        if text == self._last_status:
            return
        self._last_status = text
        if self.status_message_id is None:
            status = SendMessage(chat_id=self.chat_id, text=text, reply_parameters=self._reply_to())
            sent = await within_limits(self.bot, status, budget_s=SEND_WAIT_S)
            self.status_message_id = sent.message_id
            return
        try:
            await self.bot.edit_message_text(text=text, chat_id=self.chat_id, message_id=self.status_message_id)
        except (TelegramBadRequest, TelegramRetryAfter, TelegramNetworkError) as exc:
            # progress is best-effort: a deleted message, "not modified", or a rate limit must not redo the job
            log.info("status edit skipped: %s", exc.message)

    async def fail(self, key: str, **values: object) -> None:
        """Say why the note could not be processed, in the status message."""
        await self.status(key, **values)

    async def send_voice(
        self, voice: bytes | str, duration_s: float, caption: str | None, markup: InlineKeyboardMarkup | None = None
    ) -> str:
        """Send the cleaned voice (bytes, or a file_id sent before); returns its file_id."""
        media = voice if isinstance(voice, str) else BufferedInputFile(voice, filename="clean.ogg")
        method = SendVoice(
            chat_id=self.chat_id,
            voice=media,
            caption=caption,
            duration=max(1, round(duration_s)),
            reply_parameters=self._reply_to(),
            reply_markup=markup,
        )
        sent = await within_limits(self.bot, method, budget_s=SEND_WAIT_S)
        return sent.voice.file_id if sent.voice else ""

    async def send_results(
        self,
        voice: bytes | str | None,
        duration_s: float,
        text: str,
        *,
        skip: int = 0,
        on_sent: Callable[[int], Awaitable[None]] | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> str | None:
        """The voice (if any) with the text as its caption when short enough, else the text after it; ``markup``
        (the result's buttons) goes under the last message.

        The reply is a sequence of messages; the first ``skip`` were sent by an earlier try and are not sent
        again, and ``on_sent(n)`` is awaited after the n-th goes out. Returns the voice's file_id.
        """
        parts: list[Callable[[InlineKeyboardMarkup | None], Awaitable[str | None]]] = []
        if voice is not None:
            caption = text if len(text) <= CAPTION_LIMIT else None
            parts.append(lambda buttons: self.send_voice(voice, duration_s, caption, buttons))
            if caption is not None:
                text = ""
        if text:
            parts += self._text_parts(text)
        file_id = voice if isinstance(voice, str) else None
        for number, send in enumerate(parts, 1):
            if number <= skip:
                continue
            sent = await send(markup if number == len(parts) else None)
            file_id = file_id or sent
            if on_sent is not None:
                await on_sent(number)
        return file_id

    def _text_parts(self, text: str) -> list[Callable[[InlineKeyboardMarkup | None], Awaitable[str | None]]]:
        """The transcript as messages of at most 4096 characters, or as one .txt file when very long."""
        pieces = split_text(text)
        if len(pieces) > MAX_TEXT_MESSAGES:
            return [partial(self._send_document, text)]
        return [partial(self._send_message, piece) for piece in pieces]

    async def _send_message(self, piece: str, markup: InlineKeyboardMarkup | None) -> None:
        method = SendMessage(chat_id=self.chat_id, text=piece, reply_parameters=self._reply_to(), reply_markup=markup)
        await within_limits(self.bot, method, budget_s=SEND_WAIT_S)

    async def _send_document(self, text: str, markup: InlineKeyboardMarkup | None) -> None:
        document = BufferedInputFile(text.encode("utf-8"), filename="transcript.txt")
        method = SendDocument(
            chat_id=self.chat_id,
            document=document,
            caption=t("transcript_file", self.lang),
            reply_parameters=self._reply_to(),
            reply_markup=markup,
        )
        await within_limits(self.bot, method, budget_s=SEND_WAIT_S)
