"""Fixtures of the web tests: the web app as it runs (``testkit.web_stack``), alone or with a worker. The
``database_url`` and ``models`` fixtures come from ``tests/conftest.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from migrations import upgrade
from testkit.web_stack import ADMIN_TOKEN, WebStack, run_web_stack, web_settings
from worker.runner import PipelineRunner


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
async def web_only(sqlite_url: str, tmp_path: Path) -> AsyncIterator[WebStack]:
    """The web app without a worker (jobs stay queued), on SQLite, with an admin token and 3 jobs an hour."""
    settings = web_settings(sqlite_url, tmp_path, web_admin_token=ADMIN_TOKEN, web_jobs_per_hour=3, max_file_mb=1)
    async for stack in run_web_stack(settings, None):
        yield stack


@pytest.fixture
async def web_stack(database_url: str, models: PipelineRunner, tmp_path: Path) -> AsyncIterator[WebStack]:
    """The web app and a worker, on SQLite and on PostgreSQL."""
    async for stack in run_web_stack(web_settings(database_url, tmp_path, models), models):
        yield stack
