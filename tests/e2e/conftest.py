"""Fixtures of the end-to-end tests: the fake Bot API server, and the real stack around it (``testkit.stack``).

Every test runs on SQLite and on PostgreSQL (127.0.0.1:5432), with a real Redis on 127.0.0.1:6379 (or where
``VOICEBOT_TEST_REDIS`` says).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testkit.fake_telegram import FakeTelegram
from testkit.settings import TOKEN
from testkit.stack import Stack, make_settings, run_stack
from worker.runner import PipelineRunner


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Bot API server on a free port, for the test bot's token."""
    fake = FakeTelegram(TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def stack(
    telegram: FakeTelegram, database_url: str, models: PipelineRunner, tmp_path: Path
) -> AsyncIterator[Stack]:
    """Bot + in-process worker, on SQLite and on PostgreSQL."""
    settings = make_settings(telegram.url, database_url, models, tmp_path)
    async for running in run_stack(telegram, settings, models, with_worker=True):
        yield running
