"""Where people use voice notes: groups (quiet until asked), subtitles and text files from the result's buttons,
forwarded batches, and big files through a local Bot API server. Real bot, worker, Redis and database."""

from __future__ import annotations

import asyncio
import io
import itertools
import re
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soxr
from sqlalchemy import select

from core.db.chats import get_chat
from core.db.models import AuditLog, Job, JobStatus
from migrations import upgrade
from ml.audio import encode_voice
from ml.wer import wer
from testkit.fake_telegram import FakeTelegram
from testkit.settings import TOKEN
from testkit.speech import noisy_speech
from testkit.stack import Stack, make_settings, run_stack
from worker.runner import PipelineRunner

GROUP = FakeTelegram.group(-100_777)
ALICE, BOB = 601, 602


def voice_in(
    stack: Stack, user: int, seconds: float, *, chat: dict | None = None, **fields: object
) -> tuple[dict, str]:
    """A voice-note message of ``seconds`` of noisy speech from ``user`` (not delivered), and what was said."""
    noisy, reference, _ = noisy_speech(seconds, snr_db=15.0)
    message = stack.telegram.voice_message(user, encode_voice(noisy), round(seconds), chat=chat, **fields)
    return message, reference


def replies_to(fake: FakeTelegram, method: str, chat_id: int, message_id: int) -> list:
    return [
        c
        for c in fake.sent(method, chat_id)
        if (c.params.get("reply_parameters") or {}).get("message_id") == message_id
    ]


def with_buttons(fake: FakeTelegram, chat_id: int) -> list:
    """The result messages in ``chat_id``: the last message of each result carries its buttons."""
    return [c for c in fake.calls if int(c.params.get("chat_id", 0)) == chat_id and c.params.get("reply_markup")
            and c.method in ("sendMessage", "sendVoice", "sendDocument")]  # fmt: skip


def transcript_of(fake: FakeTelegram, chat_id: int) -> str:
    """Everything a result said in ``chat_id``: the voice's caption and the text messages after it."""
    said = [c.params.get("caption") or "" for c in fake.sent("sendVoice", chat_id)]
    said += [c.params["text"] for c in fake.sent("sendMessage", chat_id) if not c.params["text"].startswith("⏳")]
    return " ".join(part for part in said if part)


async def jobs_in(stack: Stack, chat_id: int) -> list[Job]:
    async with stack.sessionmaker() as session:
        return list((await session.scalars(select(Job).where(Job.chat_id == chat_id).order_by(Job.id))).all())


async def test_in_a_supergroup_the_bot_is_quiet_until_transcribe_is_replied(stack: Stack) -> None:
    fake = stack.telegram
    note, reference = voice_in(stack, ALICE, 8.0, chat=GROUP)
    fake.push_update({"message": note})
    await asyncio.sleep(1.5)
    assert not [c for c in fake.calls if int(c.params.get("chat_id", 0)) == GROUP["id"]]
    assert await jobs_in(stack, GROUP["id"]) == []

    fake.push_command(BOB, "transcribe@voice_test_bot", chat=GROUP, reply_to=note)
    answer = await fake.wait_for(
        lambda: [
            c for c in replies_to(fake, "sendMessage", GROUP["id"], note["message_id"]) if "⏳" not in c.params["text"]
        ],
        timeout=120,
    )
    assert wer(reference, answer[0].params["text"]) <= 0.4, answer[0].params["text"]
    assert not fake.sent("sendVoice", GROUP["id"])  # text only in groups, unless asked with /clean
    buttons = [b["text"] for row in answer[0].params["reply_markup"]["inline_keyboard"] for b in row]
    assert "🎬 Subtitles" in buttons and "📄 Text file" in buttons
    (job,) = await jobs_in(stack, GROUP["id"])
    assert job.user_id == BOB and job.message_id == note["message_id"] and job.reply_mode == "text"

    fake.push_command(ALICE, "clean", chat=GROUP, reply_to=note)  # the cleaned voice too, as a second request
    voices = await fake.wait_for(lambda: replies_to(fake, "sendVoice", GROUP["id"], note["message_id"]), timeout=120)
    assert wer(reference, voices[0].params["caption"]) <= 0.4


async def test_transcribe_without_a_note_says_how(stack: Stack) -> None:
    fake = stack.telegram
    fake.push_command(BOB, "transcribe", chat=GROUP)
    reply = await fake.wait_for(lambda: fake.sent("sendMessage", GROUP["id"]))
    assert "Reply with /transcribe to a voice note" in reply[0].params["text"]


async def test_a_language_whisper_is_not_offered_is_refused_with_the_codes(stack: Stack) -> None:
    telegram = stack.telegram
    telegram.chat_members[(GROUP["id"], ALICE)] = "administrator"
    telegram.push_command(ALICE, "language xx", chat=GROUP)
    (usage,) = await telegram.wait_for(lambda: telegram.sent("sendMessage", GROUP["id"]))
    codes = "en, ru, uk, de, fr, es, it, pt, tr, pl, zh, ja"  # what /settings offers
    assert usage.params["text"] == f"Usage: /language <code> (one of {codes}) or /language auto"
    async with stack.sessionmaker() as session:
        chat = await get_chat(session, GROUP["id"])
    assert chat is None or chat.transcribe_language is None


async def test_only_chat_admins_switch_the_chat_to_automatic(stack: Stack) -> None:
    fake = stack.telegram
    fake.chat_members[(GROUP["id"], ALICE)] = "administrator"
    fake.push_command(BOB, "auto on", chat=GROUP)
    refused = await fake.wait_for(lambda: fake.sent("sendMessage", GROUP["id"]))
    assert "Only this chat's admins" in refused[0].params["text"]
    assert fake.sent("getChatMember")

    fake.push_command(ALICE, "auto on", chat=GROUP)
    await fake.wait_for(lambda: len(fake.sent("sendMessage", GROUP["id"])) >= 2)
    assert "every voice note" in fake.sent("sendMessage", GROUP["id"])[1].params["text"]
    async with stack.sessionmaker() as session:
        entries = (await session.scalars(select(AuditLog).where(AuditLog.action == "chat_auto"))).all()
    assert [(e.admin_id, e.allowed) for e in entries] == [(BOB, False), (ALICE, True)]

    note, reference = voice_in(stack, BOB, 6.0, chat=GROUP)
    fake.push_update({"message": note})  # now answered unasked
    answer = await fake.wait_for(
        lambda: [
            c for c in replies_to(fake, "sendMessage", GROUP["id"], note["message_id"]) if "⏳" not in c.params["text"]
        ],
        timeout=120,
    )
    assert wer(reference, answer[0].params["text"]) <= 0.4


def srt_times(srt: str) -> list[tuple[float, float]]:
    def seconds(clock: str) -> float:
        h, m, rest = clock.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    return [(seconds(a), seconds(b)) for a, b in re.findall(r"(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})", srt)]


async def test_a_70_second_note_gets_timestamps_and_its_subtitles_button_works(stack: Stack) -> None:
    fake = stack.telegram
    note, reference = voice_in(stack, ALICE, 70.0)
    fake.push_update({"message": note})
    await fake.wait_for(lambda: with_buttons(fake, ALICE), timeout=180)
    caption = transcript_of(fake, ALICE)
    assert caption.startswith("[00:00] ")  # over a minute: paragraphs open with their time
    marks = re.findall(r"\[(\d\d):(\d\d)\]", caption)
    assert [int(m) * 60 + int(s) for m, s in marks] == sorted(int(m) * 60 + int(s) for m, s in marks)
    assert wer(reference, re.sub(r"\[\d\d:\d\d\]", "", caption)) <= 0.4

    last = with_buttons(fake, ALICE)[0]
    buttons = {b["text"]: b["callback_data"] for row in last.params["reply_markup"]["inline_keyboard"] for b in row}
    result = {"message_id": 9_000, "date": 0, "chat": {"id": ALICE, "type": "private"}, "text": "result"}
    fake.push_callback(ALICE, result, buttons["🎬 Subtitles"])
    await fake.wait_for(lambda: len(fake.sent("sendDocument", ALICE)) >= 2)
    documents = fake.sent("sendDocument", ALICE)
    names = [d.filenames["document"] for d in documents]
    assert names[0].endswith(".srt") and names[1].endswith(".vtt")
    srt = documents[0].files["document"].decode()
    times = srt_times(srt)
    assert len(times) >= 10
    assert all(start < end and end - start <= 7.0 for start, end in times)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(times))  # increasing, never overlapping
    assert times[0][0] < 5.0 and times[-1][1] > 60.0  # the cues cover the note
    assert documents[1].files["document"].decode().startswith("WEBVTT")

    fake.push_callback(ALICE, result, buttons["📄 Text file"])
    text_file = await fake.wait_for(lambda: fake.sent("sendDocument", ALICE)[2:])
    assert text_file[0].filenames["document"].endswith(".txt")
    assert text_file[0].files["document"].decode().startswith("[00:00] ")
    assert "🧹 Stronger cleaning" not in buttons  # the note was cleaned strongly already


async def test_stronger_cleaning_runs_the_note_again(stack: Stack) -> None:
    fake = stack.telegram
    fake.push_message(ALICE, text="/settings", entities=[{"type": "bot_command", "offset": 0, "length": 9}])
    menu = await fake.wait_for(lambda: fake.sent("sendMessage", ALICE))
    strength = next(b for row in menu[0].params["reply_markup"]["inline_keyboard"] for b in row if "Noise" in b["text"])
    fake.push_callback(ALICE, {"message_id": 1, "date": 0, "chat": {"id": ALICE, "type": "private"}, "text": "menu"},
                       strength["callback_data"])  # fmt: skip
    await fake.wait_for(lambda: fake.sent("editMessageText", ALICE))  # now gentle

    note, _ = voice_in(stack, ALICE, 5.0)
    fake.push_update({"message": note})
    voices = await fake.wait_for(lambda: fake.sent("sendVoice", ALICE), timeout=120)
    buttons = {
        b["text"]: b["callback_data"] for row in voices[0].params["reply_markup"]["inline_keyboard"] for b in row
    }
    fake.push_callback(ALICE, {"message_id": 9_001, "date": 0, "chat": {"id": ALICE, "type": "private"}},
                       buttons["🧹 Stronger cleaning"])  # fmt: skip
    again = await fake.wait_for(lambda: fake.sent("sendVoice", ALICE)[1:], timeout=120)
    assert again[0].params["reply_parameters"]["message_id"] == note["message_id"]
    await fake.wait_for(lambda: len({c.params["message_id"] for c in fake.sent("editMessageText", ALICE)
                                     if "✅" in c.params["text"]}) >= 2)  # fmt: skip
    jobs = await jobs_in(stack, ALICE)
    assert [j.strength for j in jobs] == ["gentle", "strong"] and all(j.status == JobStatus.done for j in jobs)


async def test_forwarded_notes_are_answered_in_order_under_their_origin(stack: Stack) -> None:
    fake = stack.telegram
    origins = [
        {"type": "user", "date": 1_700_000_000, "sender_user": {"id": 77, "is_bot": False, "first_name": "Carol"}},
        {"type": "hidden_user", "date": 1_700_000_060, "sender_user_name": "Dave"},
        {"type": "user", "date": 1_700_000_120, "sender_user": {"id": 78, "is_bot": False, "first_name": "Erin"}},
    ]
    notes = [voice_in(stack, ALICE, 4.0 + i, forward_origin=origin)[0] for i, origin in enumerate(origins)]
    for note in notes:
        fake.push_update({"message": note})
    voices = await fake.wait_for(lambda: len(fake.sent("sendVoice", ALICE)) >= 3, timeout=180)
    voices = fake.sent("sendVoice", ALICE)
    assert [v.params["reply_parameters"]["message_id"] for v in voices] == [n["message_id"] for n in notes]
    headers = [v.params["caption"].split("\n")[0] for v in voices]
    assert headers == ["↪️ Carol, 2023-11-14 22:13 UTC", "↪️ Dave, 2023-11-14 22:14 UTC", "↪️ Erin, 2023-11-14 22:15 UTC"]


@pytest.fixture
async def local_stack(database_url: str, models: PipelineRunner, tmp_path: Path) -> AsyncIterator[Stack]:
    """Bot + worker talking to a local Bot API server (``TELEGRAM_API_LOCAL``) whose files are on this disk."""
    fake = FakeTelegram(TOKEN, local_dir=tmp_path / "telegram-bot-api")
    await fake.start()
    settings = make_settings(fake.url, database_url, models, tmp_path, telegram_api_local=True)
    try:
        async for running in run_stack(fake, settings, models, with_worker=True):
            yield running
    finally:
        await fake.stop()


def big_wav(seconds: float, rate: int = 192_000) -> tuple[bytes, str]:
    """Noisy speech as a stereo 16-bit WAV at ``rate`` (768 kB a second at 192 kHz), and what was said."""
    noisy, reference, _ = noisy_speech(seconds, snr_db=15.0)
    wide = soxr.resample(noisy, 16_000, rate)
    pcm = (np.clip(wide, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm, 2).tobytes())
    return buffer.getvalue(), reference


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_60_mb_wav_through_a_local_bot_api_server(local_stack: Stack) -> None:
    fake = local_stack.telegram
    assert local_stack.settings.max_file_mb == 2000  # the local server's limit, not Telegram's 20 MB
    data, reference = big_wav(80.0)
    assert len(data) > 60 * 2**20
    stored = fake.add_file(data, suffix="wav")
    assert Path(stored.path).is_absolute() and Path(stored.path).is_file()
    document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_name": "interview.wav",
                "mime_type": "audio/wav", "file_size": len(data)}  # fmt: skip
    fake.push_message(ALICE, document=document)
    await fake.wait_for(lambda: with_buttons(fake, ALICE), timeout=300)
    text = transcript_of(fake, ALICE)
    assert text.startswith("[00:00] ")
    assert wer(reference, re.sub(r"\[\d\d:\d\d\]", "", text)) <= 0.4
    assert fake.downloads == []  # the worker read the file from the server's disk, not over HTTP
    await fake.wait_for(lambda: [c for c in fake.sent("editMessageText", ALICE) if "✅" in c.params["text"]])
    (job,) = await jobs_in(local_stack, ALICE)
    assert job.status == JobStatus.done and job.file_size == len(data)


async def test_chat_settings_and_the_chat_rate_limit(
    telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path
) -> None:
    """Admins set the chat's language and reply mode; a group has its own hourly limit, whoever asks."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = make_settings(telegram.url, url, models, tmp_path, max_chat_jobs_per_hour=1)
    telegram.chat_members[(GROUP["id"], ALICE)] = "creator"
    async for stack in run_stack(telegram, settings, models, with_worker=False):
        await _chat_settings_and_limit(stack)


async def _chat_settings_and_limit(stack: Stack) -> None:
    telegram = stack.telegram
    in_group = telegram.sent
    telegram.push_command(ALICE, "language de", chat=GROUP)
    await telegram.wait_for(lambda: in_group("sendMessage", GROUP["id"]))
    telegram.push_command(ALICE, "reply voice", chat=GROUP)
    said = await telegram.wait_for(
        lambda: in_group("sendMessage", GROUP["id"])[1:] and in_group("sendMessage", GROUP["id"])
    )
    assert "transcribed in: de" in said[0].params["text"] and "voice + text" in said[1].params["text"]
    telegram.push_command(BOB, "language ru", chat=GROUP)
    refused = await telegram.wait_for(lambda: in_group("sendMessage", GROUP["id"])[2:])
    assert "Only this chat's admins" in refused[0].params["text"]

    first, _ = voice_in(stack, ALICE, 2.0, chat=GROUP)
    second, _ = voice_in(stack, BOB, 2.0, chat=GROUP)
    telegram.push_command(BOB, "transcribe", chat=GROUP, reply_to=first)
    await telegram.wait_for(lambda: replies_to(telegram, "sendMessage", GROUP["id"], first["message_id"]))
    telegram.push_command(ALICE, "transcribe", chat=GROUP, reply_to=second)  # another member, same chat
    limited = await telegram.wait_for(lambda: replies_to(telegram, "sendMessage", GROUP["id"], second["message_id"]))
    assert "This chat has had 1 notes transcribed in the last hour" in limited[0].params["text"]
    jobs = await jobs_in(stack, GROUP["id"])
    assert [(j.transcribe_language, j.reply_mode) for j in jobs] == [("de", "voice_text")] * 2
    assert jobs[1].status == JobStatus.failed and jobs[1].error_code == "rate_limited"
