"""The database's Alembic migrations, and their runner (`voicebot db upgrade`).

The package holds Alembic's environment (``env.py``), its template and ``versions/``; it ships in the wheel and the
images, so an installed copy migrates without the source tree. ``alembic.ini`` at the repository root points here
for developers' own ``alembic`` commands.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

LOCATION = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """Alembic's configuration for the database at ``url``, without an ini file and without touching logging."""
    config = Config()
    config.set_main_option("script_location", str(LOCATION))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url), revision)
