"""The web app as it runs, for the web tests: a real HTTP server on a free port, a real Redis and database, and
(for the tests that need results) an in-process worker with the session's warm models. No Telegram token."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web as aioweb
from arq import create_pool
from arq.connections import ArqRedis
from arq.worker import Worker
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db.engine import make_engine, make_sessionmaker
from core.queue import redis_settings
from core.settings import Settings
from core.webfiles import WebFiles
from testkit.inprocess_worker import inprocess_worker
from testkit.settings import redis_url
from voicebot import wiring
from web.app import make_app
from worker.runner import PipelineRunner

ADMIN_TOKEN = "web-admin-token-for-tests"
# a Redis database per pytest-xdist worker, apart from the e2e tests' (a web-only worker drops Telegram jobs)
REDIS_URL = redis_url((1, 2, 3, 4, 5, 6))


@dataclass
class WebStack:
    """A running web app (and worker): its URL, an HTTP client with cookies, the database, queue and files."""

    url: str  # the server's base URL
    http: aiohttp.ClientSession
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    arq: ArqRedis
    files: WebFiles
    worker: Worker | None = None  # the in-process worker, when the stack has one

    async def wait_finished(self, status_url: str, timeout: float = 180.0) -> dict:
        """Poll the job as the page does until it is done or failed."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            async with self.http.get(self.url + status_url) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
            if body["status"] in ("done", "failed"):
                return body
            await asyncio.sleep(0.2)
        raise AssertionError(f"job not finished in {timeout} s: {body}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_settings(url: str, tmp_path: Path, runner: PipelineRunner | None = None, **overrides: object) -> Settings:
    """Web-only settings (no token) on database ``url``: a free port, files under ``tmp_path``, this worker's Redis."""
    values: dict[str, object] = {
        "telegram_bot_token": None,
        "database_url": url,
        "redis_url": REDIS_URL,
        "web_data_dir": tmp_path / "web",
        "web_port": _free_port(),
        "whisper_threads": 2,
        **({"model_cache_dir": runner.spec.cache_dir} if runner is not None else {}),
    }
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[arg-type]


async def run_web_stack(settings: Settings, pipeline: PipelineRunner | None) -> AsyncIterator[WebStack]:
    """The web app served on its port, and an in-process worker sharing ``pipeline`` when one is given."""
    runner = aioweb.AppRunner(make_app(settings, wiring.registry(settings)), access_log=None)
    await runner.setup()
    await aioweb.TCPSite(runner, settings.web_host, settings.web_port).start()
    arq = await create_pool(redis_settings(settings.redis_url))
    await arq.flushdb()
    engine = make_engine(settings.database_url)
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1 too
    try:
        async with contextlib.AsyncExitStack() as workers:
            worker = None
            if pipeline is not None:
                worker = await workers.enter_async_context(inprocess_worker(settings, pipeline, arq))
            yield WebStack(f"http://{settings.web_host}:{settings.web_port}", http, settings, engine,
                           make_sessionmaker(engine), arq, WebFiles(settings.web_data_dir), worker)  # fmt: skip
    finally:
        await http.close()
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await arq.flushdb()
        await arq.aclose()
        await engine.dispose()
