"""The e2e tests' stack: the bot (over HTTP to a fake Bot API server, by long polling, or from the fake's webhook
pushes with ``make_settings(..., webhook=True)``), an in-process worker sharing the session's warm models, Redis and
a database; and what a test does with it (send a note, wait for the answer, find the job)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import RunningBot, polling, webhook
from core.db.models import Job
from core.fleet import LOADED_KEY
from core.settings import Settings
from ml.audio import encode_voice
from testkit.fake_telegram import FakeTelegram
from testkit.inprocess_worker import inprocess_worker
from testkit.paths import ROOT
from testkit.settings import ADMIN_ID, TOKEN, redis_url
from voicebot import wiring
from worker.runner import PipelineRunner

REDIS_URL = redis_url((7, 10, 11, 12, 13, 14, 15))  # the e2e stacks' Redis database, apart from the web tests'
USER = 555  # the user who sends the notes


@dataclass
class Stack:
    """A running bot (and worker): the fake Bot API server, the settings, the database and the queue."""

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
        return await spawn_worker(self.worker_env(**extra), self.arq)


async def spawn_worker(env: dict[str, str], arq: ArqRedis) -> asyncio.subprocess.Process:
    """``voicebot worker`` in a process of its own with ``env``; returned once it has published in ``arq`` the
    models it loaded (its log goes to a temporary file, named on stdout)."""
    before = set(await arq.keys(LOADED_KEY + "*"))
    log = tempfile.NamedTemporaryFile(prefix="voicebot-worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot", "-v", "worker", env=env, cwd=ROOT, stdout=log, stderr=log,
    )  # fmt: skip
    print(f"worker {process.pid} logs to {log.name}")
    for _ in range(1200):
        if set(await arq.keys(LOADED_KEY + "*")) - before:
            return process
        if process.returncode is not None:
            raise AssertionError(Path(log.name).read_text()[-3000:])
        await asyncio.sleep(0.05)
    raise AssertionError("worker did not start")


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(
    url: str, database_url: str, models: PipelineRunner, tmp_path: Path, *, webhook: bool = False, **overrides: object
) -> Settings:
    """The stack's settings: the test token and admin, the fake server at ``url``, this worker's Redis database;
    with ``webhook``, webhook mode on a free local port (plain http, as a local Bot API server allows)."""
    if webhook:
        port = free_port()
        overrides = {"telegram_webhook_url": f"http://127.0.0.1:{port}/telegram/webhook",
                     "telegram_webhook_port": port} | overrides  # fmt: skip
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
    """The bot (and, if asked, an in-process worker sharing the session's loaded models) around a test; the bot
    takes updates from a webhook when the settings name one, else by long polling."""
    bot: AbstractAsyncContextManager[RunningBot]
    if settings.telegram_webhook_url is not None:
        bot = webhook(settings, wiring.registry(settings))
    else:
        bot = polling(settings, wiring.registry(settings), polling_timeout=1)
    async with bot as running, contextlib.AsyncExitStack() as workers:
        await running.arq.flushdb()
        worker = None
        if with_worker:
            worker = await workers.enter_async_context(inprocess_worker(settings, models, running.arq))
        try:
            yield Stack(telegram, settings, running.engine, running.sessionmaker, running.arq, worker)
        finally:
            await running.stop()
            await workers.aclose()
            with contextlib.suppress(RedisError, OSError):  # a test may have stopped Redis
                await running.arq.flushdb()


def send_note(stack: Stack, user: int, audio: np.ndarray | None = None, data: bytes | None = None,
              language: str | None = "en", **voice_fields: object) -> dict:  # fmt: skip
    """A user sends a voice note: the file goes to the fake server, the update into the queue."""
    body = data if data is not None else encode_voice(audio)  # type: ignore[arg-type]
    duration = round(audio.size / 16_000) if audio is not None else 3
    caption = voice_fields.pop("caption", None)
    extra = {"caption": caption} if caption is not None else {}
    return stack.telegram.push_voice(user, body, duration, language=language, voice=voice_fields, **extra)


async def finished(stack: Stack, user: int, count: int = 1) -> None:
    """Wait until the worker has edited ``count`` status messages of ``user`` to their final state."""
    fake = stack.telegram
    await fake.wait_for(
        lambda: (
            len({c.params["message_id"] for c in fake.sent("editMessageText", user) if "✅" in c.params["text"]})
            >= count
        ),
        timeout=120,
    )


async def job_for(stack: Stack, update: dict) -> Job:
    """The job recorded for the message in ``update``."""
    message = update["message"]
    async with stack.sessionmaker() as session:
        job = await session.scalar(
            select(Job).where(Job.chat_id == message["chat"]["id"], Job.message_id == message["message_id"])
        )
    assert job is not None
    return job
