"""The real stack for end-to-end tests: fake Bot API server over HTTP, the bot, the worker, Redis, a database.

Every test runs on SQLite and on PostgreSQL (127.0.0.1:5432), with a real Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from arq import create_pool
from arq.connections import ArqRedis
from redis.exceptions import RedisError
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

ROOT = Path(__file__).resolve().parents[2]
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
    async with fresh_postgres() as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_postgres(prefix: str = "voicebot_test") -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database on 127.0.0.1:5432 for one test or benchmark, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
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

    def worker_env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``voicebot worker`` process serving this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "REDIS_"))}
        return env | {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.settings.telegram_api_url,
            "DATABASE_URL": self.settings.database_url,
            "REDIS_URL": self.settings.redis_url or "",
            "MODEL_CACHE_DIR": str(self.settings.model_cache_dir),
            "PYTHONPATH": str(ROOT),
            **extra,
        }

    async def spawn_worker(self, **extra: str) -> asyncio.subprocess.Process:
        """A real worker process; ready once it has published the models it loaded."""
        before = set(await self.arq.keys(LOADED_KEY + "*"))
        log = tempfile.NamedTemporaryFile(prefix="voicebot-worker-", suffix=".log", delete=False)  # noqa: SIM115
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "core.cli", "-v", "worker", env=self.worker_env(**extra), cwd=ROOT,
            stdout=log, stderr=log,
        )  # fmt: skip
        print(f"worker {process.pid} logs to {log.name}")
        for _ in range(1200):
            if set(await self.arq.keys(LOADED_KEY + "*")) - before:
                return process
            if process.returncode is not None:
                raise AssertionError(Path(log.name).read_text()[-3000:])
            await asyncio.sleep(0.05)
        raise AssertionError("worker did not start")


def make_settings(url: str, database_url: str, models: ModelCache, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": url,
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "admin_ids": frozenset({ADMIN_ID}),
        "model_cache_dir": models.registry.cache_dir,
        "whisper_threads": 2,
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


async def run_stack(
    telegram: FakeTelegram, settings: Settings, models: ModelCache, *, with_worker: bool
) -> AsyncIterator[Stack]:
    """The bot (and, if asked, an in-process worker sharing the session's loaded models) around a test."""
    arq = await create_pool(redis_settings(settings.redis_url))
    await arq.flushdb()
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    bot = make_bot(settings)
    dispatcher = make_dispatcher(settings, sessionmaker, arq, models.registry)
    tasks = [asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1))]
    worker = None
    if with_worker:
        worker = make_worker(settings, ctx={"models": models}, handle_signals=False, poll_delay=0.05)
        tasks.append(asyncio.create_task(worker.async_run()))
        for _ in range(600):  # the worker is ready once it has published the models it loaded
            if await arq.keys(LOADED_KEY + "*") or tasks[-1].done():
                break
            await asyncio.sleep(0.05)
    try:
        yield Stack(telegram, settings, engine, sessionmaker, arq)
    finally:
        await dispatcher.stop_polling()
        if worker is not None:
            await worker.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bot.session.close()
        with contextlib.suppress(RedisError, OSError):  # a test may have stopped Redis
            await arq.flushdb()
        await arq.aclose()
        await engine.dispose()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def stack(telegram: FakeTelegram, database_url: str, models: ModelCache, tmp_path: Path) -> AsyncIterator[Stack]:
    """Bot + in-process worker, on SQLite and on PostgreSQL."""
    settings = make_settings(telegram.url, database_url, models, tmp_path)
    async for running in run_stack(telegram, settings, models, with_worker=True):
        yield running
