"""Fixtures shared by every test: the shared data folder, a real noisy voice note, the session's warm models and
a migrated database (SQLite and PostgreSQL) for the e2e and web stacks. Helpers live in ``testkit``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ml.audio import encode_voice
from ml.paths import default_shared
from testkit.speech import noisy_speech

if TYPE_CHECKING:
    from worker.runner import PipelineRunner


@pytest.fixture(scope="session")
def shared() -> Path:
    path = default_shared()
    if not (path / "data" / "speech" / "dev").is_dir():
        pytest.fail(f"shared data not found at {path}; set VOICEBOT_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def noisy_note_30s(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """A ~30 s English voice note (OGG/Opus) with kitchen noise at 5 dB SNR: (path, reference, seconds)."""
    noisy, text, _ = noisy_speech(30.0, snr_db=5.0)
    path = tmp_path_factory.mktemp("notes") / "noisy_30s.ogg"
    path.write_bytes(encode_voice(noisy))
    return path, text, noisy.size / 16_000


@pytest.fixture(scope="session")
def models() -> Iterator[PipelineRunner]:
    """One pipeline process for the whole session, its models kept warm as a worker keeps them; a test that
    makes it time out or crash gets it replaced, as in a worker."""
    from core.settings import load_settings  # imported here: most tests need neither the worker nor the wiring
    from voicebot import wiring
    from worker.runner import PipelineRunner

    runner = PipelineRunner(wiring.model_spec(load_settings(whisper_threads=2)))
    yield runner
    runner.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh migrated database, once on SQLite and once on PostgreSQL (127.0.0.1:5432)."""
    if request.param == "sqlite":
        from migrations import upgrade

        url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    from testkit.postgres import fresh_postgres

    async with fresh_postgres() as url:
        yield url
