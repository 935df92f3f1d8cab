"""The top-level migrations ship in the wheel: `voicebot db upgrade` works from an installed wheel, away from
the source."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built and unpacked as pip would install it (dependencies from this environment)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(out.glob("voicebot-*.whl"))
    site = out / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_the_wheel_carries_the_migrations(installed: Path) -> None:
    migrations = installed / "migrations"
    assert (migrations / "env.py").is_file() and (migrations / "script.py.mako").is_file()
    assert sorted(p.name for p in (migrations / "versions").glob("0*.py")) == sorted(
        p.name for p in (ROOT / "migrations" / "versions").glob("0*.py")
    )


def test_db_upgrade_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    env = {**os.environ, "PYTHONPATH": str(installed), "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    code = "import sys; from voicebot.cli import main; sys.exit(main(['db', 'upgrade']))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "database at revision head" in result.stdout
    probe = "import migrations as m; print(m.__file__)"
    where = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(installed))  # the wheel's code ran, not the source tree's
    import sqlite3

    tables = {row[0] for row in sqlite3.connect(database).execute("select name from sqlite_master")}
    assert {"users", "jobs", "model_settings", "audit_log", "alembic_version"} <= tables


def test_migrations_build_the_schema_the_models_describe(tmp_path: Path) -> None:
    """Every column the models add has its migration: head on a new database matches the models exactly."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from core.db.models import Base
    from migrations import upgrade

    path = tmp_path / "schema.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
