"""The real stack for end-to-end tests: fake Bot API server over HTTP, the bot, the worker, Redis, a database.

Every test runs on SQLite and on PostgreSQL (127.0.0.1:5432), with a real Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from arq import create_pool
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import make_bot, make_dispatcher
from core.db.engine import make_engine, make_sessionmaker
from core.db.migrate import upgrade
from core.queue import LOADED_KEY, redis_settings
from core.settings import Settings
from ml.loader import ModelCache
from ml.registry import Registry
from tests.fake_telegram import FakeTelegram
from worker.main import make_worker

TOKEN = "123456:TEST-token-never-logged"
ADMIN_ID = 1
REDIS_URL = "redis://127.0.0.1:6379/7"
POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def models() -> ModelCache:
    """Loaded once for the whole session, as a worker keeps its models warm."""
    from core.settings import load_settings

    defaults = load_settings()
    return ModelCache(Registry(cache_dir=defaults.model_cache_dir), threads=2)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name = f"voicebot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@dataclass
class Stack:
    telegram: FakeTelegram
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    arq: ArqRedis


@pytest.fixture
async def stack(database_url: str, models: ModelCache, tmp_path: Path) -> AsyncIterator[Stack]:
    telegram = FakeTelegram(TOKEN)
    url = await telegram.start()
    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_api_url=url,
        database_url=database_url,
        redis_url=REDIS_URL,
        admin_ids=frozenset({ADMIN_ID}),
        storage_dir=tmp_path / "storage",
        model_cache_dir=models.registry.cache_dir,
        whisper_threads=2,
        _env_file=None,
    )
    arq = await create_pool(redis_settings(REDIS_URL))
    await arq.flushdb()
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    bot = make_bot(settings)
    dispatcher = make_dispatcher(settings, sessionmaker, arq, models.registry)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1))
    worker = make_worker(settings, ctx={"models": models}, handle_signals=False, poll_delay=0.05)
    working = asyncio.create_task(worker.async_run())
    for _ in range(600):  # the worker is ready once it has published the models it loaded
        if await arq.keys(LOADED_KEY + "*") or working.done():
            break
        await asyncio.sleep(0.05)
    try:
        yield Stack(telegram, settings, engine, sessionmaker, arq)
    finally:
        await dispatcher.stop_polling()
        await worker.close()
        for task in (polling, working):
            task.cancel()
        await asyncio.gather(polling, working, return_exceptions=True)
        await bot.session.close()
        await arq.flushdb()
        await arq.aclose()
        await engine.dispose()
        await telegram.stop()
