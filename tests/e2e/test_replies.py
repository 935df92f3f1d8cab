"""Transcript delivery over the Bot API: caption, split messages, or a .txt document."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.settings import Settings
from core.telegram import make_bot
from ml.audio import encode_voice
from testkit.fake_telegram import FakeTelegram
from testkit.settings import TOKEN
from testkit.speech import dev_speech
from worker.replies import CAPTION_LIMIT, MESSAGE_LIMIT, Replier, split_text

CHAT = 31


@pytest.fixture
async def replier(telegram: FakeTelegram) -> AsyncIterator[Replier]:
    bot = make_bot(Settings(telegram_bot_token=TOKEN, telegram_api_url=telegram.url, _env_file=None))
    yield Replier(bot, CHAT, message_id=7, status_message_id=None, lang="en")
    await bot.session.close()


def words(n: int) -> str:
    _, text = dev_speech(60.0)
    vocabulary = text.split()
    return " ".join(vocabulary[i % len(vocabulary)] for i in range(n)) + "."


VOICE = encode_voice(dev_speech(2.0)[0])


async def test_short_text_is_the_voice_caption(telegram: FakeTelegram, replier: Replier) -> None:
    await replier.send_results(VOICE, 2.0, "hello there")
    (voice,) = telegram.sent("sendVoice", CHAT)
    assert voice.params["caption"] == "hello there"
    assert voice.params["reply_parameters"]["message_id"] == 7
    assert not telegram.sent("sendMessage")


async def test_longer_text_follows_the_voice_in_pieces(telegram: FakeTelegram, replier: Replier) -> None:
    text = words(1500)  # about 8,000 characters
    assert len(text) > 2 * MESSAGE_LIMIT - 1000
    await replier.send_results(VOICE, 2.0, text)
    (voice,) = telegram.sent("sendVoice", CHAT)
    assert "caption" not in voice.params
    pieces = [c.params["text"] for c in telegram.sent("sendMessage", CHAT)]
    assert len(pieces) >= 2 and all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert " ".join(pieces).split() == text.split()  # nothing lost, no word cut


async def test_very_long_text_comes_as_a_document(telegram: FakeTelegram, replier: Replier) -> None:
    text = words(4000)
    await replier.send_results(VOICE, 2.0, text)
    (document,) = telegram.sent("sendDocument", CHAT)
    assert document.files["document"].decode("utf-8") == text
    assert not telegram.sent("sendMessage")


async def test_text_only_mode_sends_no_voice(telegram: FakeTelegram, replier: Replier) -> None:
    await replier.send_results(None, 2.0, "only words")
    assert not telegram.sent("sendVoice")
    assert [c.params["text"] for c in telegram.sent("sendMessage", CHAT)] == ["only words"]


def test_split_prefers_sentence_ends() -> None:
    text = ("A sentence here. " * 400).strip()
    pieces = split_text(text)
    assert all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    assert CAPTION_LIMIT == 1024
