"""An admin's model switch is refused when a live worker cannot run the version (its image has no torch, or lacks the
weights' package), with each such worker and its reason; the worker withdraws what it said when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db.models import AuditLog, ModelSetting
from migrations import upgrade
from testkit import no_torch
from testkit.fake_telegram import FakeTelegram
from testkit.settings import ADMIN_ID
from testkit.stack import Stack, make_settings, run_stack
from worker.runner import PipelineRunner


@pytest.fixture
async def bot_only(telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path) -> AsyncIterator[Stack]:
    """The bot alone (SQLite, this process's Redis database); the test starts a real worker process."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, url)
    async for running in run_stack(telegram, make_settings(telegram.url, url, models, tmp_path), models,
                                   with_worker=False):  # fmt: skip
        yield running


async def admin_says(stack: Stack, text: str) -> str:
    """The admin sends ``text`` (a command); returns the bot's answer."""
    fake = stack.telegram
    before = len(fake.sent("sendMessage", ADMIN_ID))
    fake.push_command(ADMIN_ID, text.removeprefix("/"))
    replies = await fake.wait_for(lambda: fake.sent("sendMessage", ADMIN_ID)[before:])
    return str(replies[0].params["text"])


async def test_a_version_a_worker_cannot_run_is_refused_with_its_reason(bot_only: Stack) -> None:
    stack = bot_only
    worker = await stack.spawn_worker(PYTHONPATH=no_torch.env({})["PYTHONPATH"])  # as in the image without torch
    try:
        refused = await admin_says(stack, "/denoiser demucs-dns48")
        assert "cannot run on every worker" in refused and "TORCH=1" in refused, refused
        assert "is now rnnoise" in await admin_says(stack, "/denoiser rnnoise")
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
    # the worker withdrew what it said: with no worker saying it cannot, the switch goes through
    assert "is now demucs-dns48" in await admin_says(stack, "/denoiser demucs-dns48")
    async with stack.sessionmaker() as session:
        trail = [(a.action, a.detail, a.allowed) for a in (await session.scalars(select(AuditLog))).all()]
        active = {(m.family, m.version) for m in (await session.scalars(select(ModelSetting))).all()}
    assert ("set_denoiser", "demucs-dns48", False) in trail and active == {("denoiser", "demucs-dns48")}
