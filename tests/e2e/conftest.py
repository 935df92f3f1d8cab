"""The real stack for end-to-end tests: fake Bot API server over HTTP, the bot, the worker, Redis, a database.

Every test runs on SQLite and on PostgreSQL (127.0.0.1:5432), with a real Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import polling
from core.db.migrate import upgrade
from core.queue import LOADED_KEY
from core.settings import Settings
from testkit.fake_telegram import FakeTelegram
from testkit.postgres import fresh_postgres
from voicebot import wiring
from worker.main import make_worker
from worker.runner import PipelineRunner

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token-never-logged"
ADMIN_ID = 1
# each pytest-xdist worker (gw0, gw1, ...) has a Redis database of its own: the stacks flush theirs
_XDIST_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
# VOICEBOT_TEST_REDIS points the tests at another Redis server (e.g. two checkouts testing at once)
_REDIS_SERVER = os.environ.get("VOICEBOT_TEST_REDIS", "redis://127.0.0.1:6379")
REDIS_URL = f"{_REDIS_SERVER}/{(7, 10, 11, 12, 13, 14, 15)[_XDIST_WORKER]}"


@pytest.fixture(scope="session")
def models() -> Iterator[PipelineRunner]:
    """One pipeline process for the whole session, its models kept warm as a worker keeps them; a test that
    makes it time out or crash gets it replaced, as in a worker."""
    from core.settings import load_settings

    runner = PipelineRunner(wiring.model_spec(load_settings(whisper_threads=2)))
    yield runner
    runner.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    async with fresh_postgres() as url:
        yield url


@dataclass
class Stack:
    telegram: FakeTelegram
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    arq: ArqRedis
    worker: Worker | None = None  # the in-process worker, when the stack has one

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
            sys.executable, "-m", "voicebot", "-v", "worker", env=self.worker_env(**extra), cwd=ROOT,
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


def make_settings(url: str, database_url: str, models: PipelineRunner, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": url,
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "admin_ids": frozenset({ADMIN_ID}),
        "model_cache_dir": models.spec.cache_dir,
        "whisper_threads": 2,
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


async def run_stack(
    telegram: FakeTelegram, settings: Settings, models: PipelineRunner, *, with_worker: bool
) -> AsyncIterator[Stack]:
    """The bot (and, if asked, an in-process worker sharing the session's loaded models) around a test."""
    async with polling(settings, wiring.registry(settings), polling_timeout=1) as running:
        await running.arq.flushdb()
        worker = worker_task = None
        if with_worker:
            setup = wiring.worker_setup(settings, pipeline=models)
            worker = make_worker(setup, handle_signals=False, poll_delay=0.05)
            worker_task = asyncio.create_task(worker.async_run())
            for _ in range(600):  # the worker is ready once it has published the models it loaded
                if await running.arq.keys(LOADED_KEY + "*") or worker_task.done():
                    break
                await asyncio.sleep(0.05)
        try:
            yield Stack(telegram, settings, running.engine, running.sessionmaker, running.arq, worker)
        finally:
            await running.dispatcher.stop_polling()
            if worker is not None and worker_task is not None:
                await worker.close()
                worker_task.cancel()
                await asyncio.gather(worker_task, return_exceptions=True)
            with contextlib.suppress(RedisError, OSError):  # a test may have stopped Redis
                await running.arq.flushdb()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
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
