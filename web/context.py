"""What every request handler reads: settings, the database, the queue, the model catalog, the files' layout."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from aiohttp import web
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.catalog import ModelCatalog
from core.settings import Settings
from core.webfiles import WebFiles


@dataclass
class WebContext:
    settings: Settings
    catalog: ModelCatalog
    files: WebFiles
    engine: AsyncEngine | None = None  # connected in the app's start-up, closed in its clean-up
    sessionmaker: async_sessionmaker[AsyncSession] | None = None
    arq: ArqRedis | None = None

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A database session (use with ``async with``)."""
        if self.sessionmaker is None:
            raise RuntimeError("the web app has not started")
        return self.sessionmaker()

    @property
    def queue(self) -> ArqRedis:
        if self.arq is None:
            raise RuntimeError("the web app has not started")
        return self.arq


CONTEXT = web.AppKey("context", WebContext)


def context(request: web.Request) -> WebContext:
    return request.app[CONTEXT]
