"""A user's path through the real bot and worker, over HTTP, with Redis and a database."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import select

from bot.handlers import voice
from core.db.models import AuditLog, Job, JobStatus, ModelSetting
from ml.audio import decode_audio
from ml.wer import wer
from testkit.settings import ADMIN_ID, DEFAULT_DENOISER, TOKEN
from testkit.speech import noisy_speech
from testkit.stack import USER, Stack, finished, job_for, send_note
from worker import replies


async def test_voice_note_is_acknowledged_cleaned_and_transcribed(stack: Stack) -> None:
    noisy, reference, _ = noisy_speech(15.0, snr_db=5.0)
    update = send_note(stack, USER, noisy)
    fake = stack.telegram

    ack = await fake.wait_for(lambda: fake.sent("sendMessage", USER), timeout=10)
    assert ack[0].params["text"].startswith("⏳ Queued, position 1")
    assert ack[0].params["reply_parameters"]["message_id"] == update["message"]["message_id"]

    voices = await fake.wait_for(lambda: fake.sent("sendVoice", USER), timeout=120)
    caption = voices[0].params["caption"]
    assert wer(reference, caption) <= 0.4, caption
    cleaned = decode_audio(voices[0].files["voice"])
    assert cleaned.size == pytest.approx(noisy.size, abs=0.05 * 16_000)

    edits = await fake.wait_for(
        lambda: [c.params["text"] for c in fake.sent("editMessageText", USER) if "Done" in c.params["text"]]
    )
    texts = [c.params["text"] for c in fake.sent("editMessageText", USER)]
    # acknowledged before any work on the note (how fast, under load, is bench.load's to measure: BENCHMARKS.md)
    assert ack[0].at < min(c.at for c in fake.sent("editMessageText", USER))
    for stage in ("Downloading", "Removing noise", "Transcribing"):
        assert any(stage in text for text in texts), texts
    assert edits
    assert fake.sent("sendChatAction", USER)

    job = await job_for(stack, update)
    assert job.status == JobStatus.done
    assert job.transcript == caption
    assert job.denoiser_version == DEFAULT_DENOISER and job.whisper_version == "base"
    assert {"download", "decode", "denoise", "transcribe", "encode", "total"} <= set(job.timings_ms or {})
    assert job.language == "en"
    assert job.source == "telegram"
    segments = job.segments or []
    assert segments and " ".join(s["text"] for s in segments) == job.transcript
    assert all(0 <= s["start"] < s["end"] <= job.duration_s + 0.5 for s in segments)


async def test_admin_switches_whisper_and_next_job_uses_it(stack: Stack) -> None:
    fake = stack.telegram
    fake.push_message(ADMIN_ID, text="/whisper tiny.en", entities=[{"type": "bot_command", "offset": 0, "length": 8}])
    reply = await fake.wait_for(lambda: fake.sent("sendMessage", ADMIN_ID))
    assert "tiny.en" in reply[0].params["text"] and "next job" in reply[0].params["text"]

    noisy, _, _ = noisy_speech(8.0, snr_db=10.0)
    update = send_note(stack, USER, noisy)
    await finished(stack, USER)
    job = await job_for(stack, update)
    assert job.whisper_version == "tiny.en"
    async with stack.sessionmaker() as session:
        audit = (await session.scalars(select(AuditLog))).all()
    assert [(a.admin_id, a.action, a.detail, a.allowed) for a in audit] == [(ADMIN_ID, "set_whisper", "tiny.en", True)]


async def test_non_admin_cannot_switch_models(stack: Stack) -> None:
    fake = stack.telegram
    fake.push_message(USER, text="/whisper tiny.en", entities=[{"type": "bot_command", "offset": 0, "length": 8}])
    fake.push_message(USER, text="/stats", entities=[{"type": "bot_command", "offset": 0, "length": 6}])
    replies = await fake.wait_for(lambda: len(fake.sent("sendMessage", USER)) >= 2 and fake.sent("sendMessage", USER))
    assert all("Not allowed" in r.params["text"] for r in replies)
    async with stack.sessionmaker() as session:
        assert (await session.scalars(select(ModelSetting))).all() == []
        refused = (await session.scalars(select(AuditLog))).all()
    assert {(a.admin_id, a.allowed) for a in refused} == {(USER, False)}


async def test_unknown_version_lists_valid_ones(stack: Stack) -> None:
    fake = stack.telegram
    fake.push_message(ADMIN_ID, text="/denoiser magic", entities=[{"type": "bot_command", "offset": 0, "length": 9}])
    reply = await fake.wait_for(lambda: fake.sent("sendMessage", ADMIN_ID))
    text = reply[0].params["text"]
    assert "Unknown denoiser version" in text and "rnnoise" in text and "none" in text
    fake.push_message(ADMIN_ID, text="/models", entities=[{"type": "bot_command", "offset": 0, "length": 7}])
    listing = await fake.wait_for(lambda: len(fake.sent("sendMessage", ADMIN_ID)) >= 2 and fake.sent("sendMessage"))
    text = listing[-1].params["text"]
    assert f"Denoiser: {DEFAULT_DENOISER}" in text and "Whisper: base" in text
    assert f"{DEFAULT_DENOISER} + base" in text  # what the running worker holds in memory


async def test_corrupt_note_gets_a_reason_and_worker_keeps_serving(stack: Stack) -> None:
    fake = stack.telegram
    bad = send_note(stack, USER, data=np.random.default_rng(3).bytes(30_000))
    failure = await fake.wait_for(
        lambda: [c for c in fake.sent("editMessageText", USER) if "could not read" in c.params["text"]]
    )
    assert failure
    job = await job_for(stack, bad)
    assert job.status == JobStatus.failed and job.error_code == "unsupported_audio"
    assert job.error and "not audio" in job.error

    noisy, _, _ = noisy_speech(5.0, snr_db=15.0)
    good = send_note(stack, USER, noisy)
    await finished(stack, USER)
    assert (await job_for(stack, good)).status == JobStatus.done


async def test_limits_are_checked_before_queueing(stack: Stack) -> None:
    fake = stack.telegram
    big = send_note(stack, USER, data=b"x" * 100, file_size=30 * 2**20)
    long = send_note(stack, USER, data=b"x" * 100, duration=3 * 3600)
    replies = await fake.wait_for(lambda: len(fake.sent("sendMessage", USER)) >= 2 and fake.sent("sendMessage", USER))
    texts = sorted(r.params["text"] for r in replies)
    assert any("30.0 MB" in text and "up to 20 MB" in text for text in texts), texts
    assert any("180 min" in text and "limit is 30 min" in text for text in texts), texts
    assert not fake.sent("getFile")
    assert (await job_for(stack, big)).error_code == "too_big"
    assert (await job_for(stack, long)).error_code == "too_long"


async def test_silence_says_no_speech(stack: Stack) -> None:
    fake = stack.telegram
    update = send_note(stack, USER, np.zeros(16_000 * 3, dtype=np.float32))
    await fake.wait_for(lambda: [c for c in fake.sent("editMessageText", USER) if "No speech" in c.params["text"]])
    assert (await job_for(stack, update)).error_code == "no_speech"


async def test_non_audio_gets_help_in_users_language(stack: Stack) -> None:
    fake = stack.telegram
    sticker = {"file_id": "s1", "file_unique_id": "su1", "type": "regular", "width": 512, "height": 512,
               "is_animated": False, "is_video": False}  # fmt: skip
    fake.push_message(USER, sticker=sticker)
    fake.push_message(777, language="ru", text="привет 👋")
    en = await fake.wait_for(lambda: fake.sent("sendMessage", USER))
    ru = await fake.wait_for(lambda: fake.sent("sendMessage", 777))
    assert "voice notes" in en[0].params["text"]
    assert "голосовые" in ru[0].params["text"]


async def press_in_settings(stack: Stack, label: str) -> tuple[str, str]:
    """The user opens /settings and presses the button whose text holds ``label``: (menu text, edited text)."""
    fake = stack.telegram
    fake.push_message(USER, text="/settings", entities=[{"type": "bot_command", "offset": 0, "length": 9}])
    menu = await fake.wait_for(lambda: fake.sent("sendMessage", USER))
    buttons = [b for row in menu[0].params["reply_markup"]["inline_keyboard"] for b in row]
    button = next(b for b in buttons if label in b["text"])
    message = {"message_id": 5000, "date": 0, "chat": {"id": USER, "type": "private"}, "text": "settings"}
    fake.push_callback(USER, message, button["callback_data"])
    edited = await fake.wait_for(lambda: fake.sent("editMessageText", USER))
    return menu[0].params["text"], edited[0].params["text"]


async def test_settings_text_only_reply(stack: Stack) -> None:
    fake = stack.telegram
    _, edited = await press_in_settings(stack, "Reply")
    assert "text only" in edited

    noisy, reference, _ = noisy_speech(6.0, snr_db=15.0)
    update = send_note(stack, USER, noisy)
    await fake.wait_for(lambda: (job := fake.sent("sendMessage", USER)) and len(job) >= 3, timeout=120)
    await fake.wait_for(lambda: [c for c in fake.sent("editMessageText", USER) if "Done" in c.params["text"]])
    assert not fake.sent("sendVoice", USER)
    assert wer(reference, fake.sent("sendMessage", USER)[-1].params["text"]) < 0.5
    assert (await job_for(stack, update)).reply_mode == "text"


async def test_gentle_strength_and_a_very_quiet_note(stack: Stack) -> None:
    """A user picks gentle noise removal in /settings, then sends a note recorded at −65 dBFS RMS."""
    fake = stack.telegram
    menu, edited = await press_in_settings(stack, "Noise removal")
    assert "Noise removal: strong" in menu
    assert "Noise removal: gentle" in edited

    speech, reference, _ = noisy_speech(8.0, snr_db=30.0)
    quiet = (speech * 10 ** (-65 / 20) / np.sqrt(np.mean(speech**2))).astype(np.float32)
    update = send_note(stack, USER, quiet)
    voices = await fake.wait_for(lambda: fake.sent("sendVoice", USER), timeout=120)
    assert wer(reference, voices[0].params["caption"]) <= 0.4, voices[0].params["caption"]
    returned = decode_audio(voices[0].files["voice"])
    assert 20 * np.log10(np.sqrt(np.mean(returned**2))) > -30  # it comes back audible
    await finished(stack, USER)
    job = await job_for(stack, update)
    assert job.strength == "gentle" and job.status == JobStatus.done


async def test_redelivered_update_makes_one_job_and_one_reply(stack: Stack) -> None:
    fake = stack.telegram
    noisy, _, _ = noisy_speech(5.0, snr_db=15.0)
    update = send_note(stack, USER, noisy)
    fake.push_update(update)  # Telegram delivers the same update again
    await fake.wait_for(lambda: fake.sent("sendVoice", USER), timeout=120)
    await fake.wait_for(lambda: [c for c in fake.sent("editMessageText", USER) if "Done" in c.params["text"]])
    async with stack.sessionmaker() as session:
        jobs = (await session.scalars(select(Job))).all()
    assert len(jobs) == 1
    assert len(fake.sent("sendVoice", USER)) == 1
    assert len([c for c in fake.sent("sendMessage", USER) if "Queued" in c.params["text"]]) == 1


async def test_token_stays_out_of_logs(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    noisy, _, _ = noisy_speech(4.0, snr_db=15.0)
    send_note(stack, USER, noisy)
    await stack.telegram.wait_for(lambda: stack.telegram.sent("sendVoice", USER), timeout=120)
    assert caplog.records
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


async def test_a_rate_limited_acknowledgement_waits_its_turn(stack: Stack) -> None:
    fake = stack.telegram
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    update = send_note(stack, USER, noisy_speech(4.0, snr_db=15.0)[0])
    await finished(stack, USER)
    acks = fake.sent("sendMessage", USER)
    assert [c.error for c in acks] == [429, None] and acks[1].at - acks[0].at >= 1.0
    job = await job_for(stack, update)
    assert job.status == JobStatus.done and job.status_message_id is not None


async def test_a_note_whose_acknowledgement_telegram_holds_back_is_still_answered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(voice, "ACK_WAIT_S", 0.5)  # Telegram's 1 s is more than the acknowledgement may wait
    fake = stack.telegram
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    update = send_note(stack, USER, noisy_speech(4.0, snr_db=15.0)[0])
    await finished(stack, USER)  # the worker's first progress message stands for the acknowledgement
    assert [c.error for c in fake.sent("sendMessage", USER)][:2] == [429, None]
    assert len(fake.sent("sendVoice", USER)) == 1
    assert (await job_for(stack, update)).status == JobStatus.done


async def test_telegram_429_on_the_answer_is_waited_out_in_place(stack: Stack) -> None:
    # the chat's later notes wait for this one's answer: it waits Telegram's delay and sends again, not the job again
    fake = stack.telegram
    fake.fail_next("sendVoice", 429, "Too Many Requests: retry after 1", retry_after=1)
    noisy, _, _ = noisy_speech(4.0, snr_db=15.0)
    update = send_note(stack, USER, noisy)
    await finished(stack, USER)
    attempts = fake.sent("sendVoice", USER)
    assert len(attempts) == 2 and attempts[1].at - attempts[0].at >= 1.0
    job = await job_for(stack, update)
    assert job.status == JobStatus.done and job.attempts == 1 and len(fake.sent("getFile")) == 1


async def test_telegram_429_longer_than_the_wait_retries_the_job_after_its_delay(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replies, "SEND_WAIT_S", 0.5)  # Telegram's 1 s is more than a send may wait in place
    fake = stack.telegram
    fake.fail_next("sendVoice", 429, "Too Many Requests: retry after 1", retry_after=1)
    update = send_note(stack, USER, noisy_speech(4.0, snr_db=15.0)[0])
    await finished(stack, USER)
    attempts = fake.sent("sendVoice", USER)
    assert len(attempts) == 2 and attempts[1].at - attempts[0].at >= 1.0
    job = await job_for(stack, update)
    assert job.status == JobStatus.done and job.attempts == 2


async def test_worker_health_check(stack: Stack) -> None:
    from worker.health import worker_healthy

    assert await asyncio.to_thread(worker_healthy, stack.settings)


async def test_rate_limited_progress_edit_does_not_redo_the_job(stack: Stack) -> None:
    fake = stack.telegram
    fake.fail_next("editMessageText", 429, "Too Many Requests: retry after 5", retry_after=5)
    update = send_note(stack, USER, noisy_speech(4.0, snr_db=15.0)[0])
    await finished(stack, USER)
    assert len(fake.sent("getFile")) == 1 and len(fake.sent("sendVoice", USER)) == 1
    assert (await job_for(stack, update)).attempts == 1
