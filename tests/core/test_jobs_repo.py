"""The jobs' records as the bot writes them: acknowledging a note costs one UPDATE (the ORM's flush of an attribute
set on the job, then an explicit UPDATE of the same column, made it two)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event

from core.db.engine import make_engine, make_sessionmaker
from core.db.jobs import create_job, get_job, set_status_message
from migrations import upgrade


async def test_the_status_message_is_recorded_with_one_update(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            job, created = await create_job(session, user_id=None, chat_id=7, message_id=11, kind="voice")
            assert created
            statements: list[str] = []
            event.listen(engine.sync_engine, "before_cursor_execute",
                         lambda _conn, _cursor, statement, *_: statements.append(statement))  # fmt: skip
            await set_status_message(session, job, 1234)
            assert [s.split()[0] for s in statements] == ["UPDATE"] and job.status_message_id == 1234
        async with make_sessionmaker(engine)() as session:
            stored = await get_job(session, job.id)
            assert stored is not None and stored.status_message_id == 1234
    finally:
        await engine.dispose()
