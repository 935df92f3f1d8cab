"""Which model versions are active: the settings' defaults, overridden by admins at run time (database)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from core.db.admin import get_active_models
from core.db.engine import make_engine, make_sessionmaker
from core.settings import Settings

log = logging.getLogger(__name__)


def active_versions(settings: Settings) -> dict[str, str]:
    """The active denoiser and Whisper versions (the defaults when the database is not set up yet)."""
    defaults = settings.default_models

    async def read() -> dict[str, str]:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                return await get_active_models(session, defaults)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(read())
    except (SQLAlchemyError, OSError) as exc:
        log.info("database not readable (%s); showing the configured defaults", exc)
        return defaults
