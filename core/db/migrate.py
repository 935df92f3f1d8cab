"""Run the Alembic migrations programmatically (`voicebot db upgrade`).

The migrations are package data of ``core.db`` (``core/db/migrations``), so an installed wheel or image migrates
without the source tree; ``alembic.ini`` at the repository root is only for developers' own ``alembic`` commands.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)
