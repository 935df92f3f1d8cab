"""Webhook mode through the real path: the bot serves aiogram's webhook handler and sets its webhook on the fake
Bot API server, which pushes updates to it as Telegram does (with the secret header); a real worker answers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.webhook import webhook_secret
from core.db.models import Job, JobStatus, User
from core.queue import QUEUE_NAME
from ml.audio import encode_voice
from ml.wer import wer
from testkit.fake_telegram import FakeTelegram
from testkit.paths import ROOT
from testkit.settings import TOKEN
from testkit.speech import noisy_speech
from testkit.stack import REDIS_URL, USER, Stack, finished, free_port, job_for, make_settings, run_stack, send_note
from worker.runner import PipelineRunner


@pytest.fixture
async def webhook_stack(
    telegram: FakeTelegram, database_url: str, models: PipelineRunner, tmp_path: Path
) -> AsyncIterator[Stack]:
    """Bot in webhook mode + in-process worker, on SQLite and on PostgreSQL."""
    settings = make_settings(telegram.url, database_url, models, tmp_path, webhook=True)
    async for running in run_stack(telegram, settings, models, with_worker=True):
        yield running


async def settled(stack: Stack) -> None:
    """Wait until the in-process worker has no job left running: the stack's teardown cancels one still being
    finished (its result written to Redis), and arq's ``close`` then raises."""
    worker = stack.worker
    for _ in range(600):
        if worker is None or all(task.done() for task in worker.tasks.values()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker is still busy")


async def test_bot_sets_its_webhook_and_a_pushed_note_is_answered(
    webhook_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fake, settings = webhook_stack.telegram, webhook_stack.settings
    (call,) = fake.sent("setWebhook")
    assert call.params["url"] == settings.telegram_webhook_url
    secret = call.params["secret_token"]
    assert secret == webhook_secret(settings) and len(secret) == 64  # derived from the token: none was configured
    assert {"message", "callback_query"} <= set(call.params["allowed_updates"])
    assert str(call.params["drop_pending_updates"]).lower() == "false"

    noisy, reference, _ = noisy_speech(6.0, snr_db=10.0)
    update = send_note(webhook_stack, USER, noisy)
    voices = await fake.wait_for(lambda: fake.sent("sendVoice", USER), timeout=120)
    assert wer(reference, voices[0].params["caption"]) <= 0.4, voices[0].params["caption"]
    await finished(webhook_stack, USER)
    await settled(webhook_stack)
    assert fake.sent("sendMessage", USER)[0].params["text"].startswith("⏳ Queued")

    assert [(p.update["update_id"], p.secret, p.status) for p in fake.pushes] == [(update["update_id"], secret, 200)]
    job = await job_for(webhook_stack, update)
    assert job.status == JobStatus.done and job.transcript == voices[0].params["caption"]
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text and secret not in caplog.text


async def test_updates_without_the_right_secret_get_401_and_make_no_job(webhook_stack: Stack) -> None:
    fake = webhook_stack.telegram
    noisy, _, _ = noisy_speech(4.0, snr_db=15.0)
    update = {"update_id": 9001, "message": fake.voice_message(USER, encode_voice(noisy), 4)}

    assert await fake.post_to_webhook(update, secret="not-the-secret") == 401
    assert await fake.post_to_webhook(update, secret=None) == 401
    async with webhook_stack.sessionmaker() as session:  # not handled at all: not even the user was recorded
        assert await session.scalar(select(func.count()).select_from(User)) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
    assert not [j for j in await webhook_stack.arq.zrange(QUEUE_NAME, 0, -1) if j.startswith(b"note:")]  # only cron
    assert fake.sent("sendMessage", USER) == []

    # the same update with Telegram's secret is handled before it is answered: its job exists once it has its 200
    assert fake.webhook is not None
    assert await fake.post_to_webhook(update, secret=fake.webhook.secret) == 200
    assert not (await job_for(webhook_stack, update)).status.finished
    await finished(webhook_stack, USER)
    await settled(webhook_stack)
    assert [p.status for p in fake.pushes] == [401, 401, 200]


async def test_webhook_stays_set_on_shutdown_and_polling_takes_over_with_pending_updates(
    telegram: FakeTelegram, database_url: str, models: PipelineRunner, tmp_path: Path
) -> None:
    hooked = make_settings(telegram.url, database_url, models, tmp_path, webhook=True)
    async for _ in run_stack(telegram, hooked, models, with_worker=False):
        assert telegram.webhook is not None and telegram.webhook.url == hooked.telegram_webhook_url
    assert telegram.webhook is not None and telegram.sent("deleteWebhook") == []  # a restart loses nothing

    telegram.push_command(USER, "start")  # arrives while no bot listens: Telegram keeps it and tries again
    await telegram.wait_for(lambda: [p for p in telegram.pushes if p.status == 0])

    polled = make_settings(telegram.url, database_url, models, tmp_path)
    async for _ in run_stack(telegram, polled, models, with_worker=False):
        (removal,) = telegram.sent("deleteWebhook")
        assert str(removal.params.get("drop_pending_updates", "false")).lower() == "false"
        replies = await telegram.wait_for(lambda: telegram.sent("sendMessage", USER))
        assert "voice" in replies[0].params["text"].lower()
    assert telegram.webhook is None


async def test_voicebot_bot_serves_the_webhook_and_stops_cleanly_on_sigterm(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    from migrations import upgrade

    database_url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, database_url)
    port, secret = free_port(), "cli-test-secret_0123456789"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "REDIS_"))}
    env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": telegram.url, "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL, "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
            "TELEGRAM_WEBHOOK_PORT": str(port), "TELEGRAM_WEBHOOK_SECRET": secret, "PYTHONPATH": str(ROOT)}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot", "-v", "bot", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        (call,) = await telegram.wait_for(lambda: telegram.sent("setWebhook"), timeout=60)
        assert call.params["secret_token"] == secret and call.params["url"] == f"http://127.0.0.1:{port}/hook"
        telegram.push_command(USER, "start")
        await telegram.wait_for(lambda: telegram.sent("sendMessage", USER))
    finally:
        process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
    assert process.returncode == 0, output
    assert "webhook for 127.0.0.1, listening on 127.0.0.1:" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output and secret not in output
    assert telegram.sent("deleteWebhook") == [] and [p.status for p in telegram.pushes] == [200]
