"""What the live workers say of themselves through Redis, for the admins: the model versions each one holds in
memory, and the versions each one cannot run and why (a worker image without torch cannot run Demucs, one without
a weights package cannot run that version). Each worker writes its own keys when it starts and refreshes them; they
expire with the worker."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

LOADED_KEY = "voicebot:loaded:"  # + worker name → JSON of the versions it holds in memory
UNRUNNABLE_KEY = "voicebot:unrunnable:"  # + worker name → JSON {family: {version: why}}


async def _notes(redis: Redis, prefix: str) -> dict[str, Any]:
    """What each live worker wrote under ``prefix`` + its name: worker name → the JSON, parsed."""
    notes: dict[str, Any] = {}
    for key in await redis.keys(prefix + "*"):
        value = await redis.get(key)
        if value is None:  # the worker went away meanwhile
            continue
        name = key.decode() if isinstance(key, bytes) else str(key)
        notes[name.removeprefix(prefix)] = json.loads(value)
    return notes


async def workers_loaded(redis: Redis) -> list[str]:
    """``worker: version + version`` for each live worker, sorted: the models it holds in memory."""
    loaded = await _notes(redis, LOADED_KEY)
    return sorted(f"{worker}: {' + '.join(str(v) for v in held.values())}" for worker, held in loaded.items())


def unrunnable_note(unrunnable: dict[str, dict[str, str]]) -> str:
    """What a worker writes under its key: for each family, the versions it cannot run and why."""
    return json.dumps(unrunnable)


async def workers_unable(redis: Redis, family: str, version: str) -> dict[str, str]:
    """The live workers that cannot run ``version`` of ``family``: worker name → why."""
    notes = await _notes(redis, UNRUNNABLE_KEY)
    return {worker: why for worker, note in notes.items() if (why := note.get(family, {}).get(version)) is not None}


def describe(unable: dict[str, str]) -> str:
    """``worker: why`` for each worker, joined with semicolons, for an admin's reply."""
    return "; ".join(f"{worker}: {why}" for worker, why in sorted(unable.items()))
