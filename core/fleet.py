"""What the live workers say of themselves through Redis, for the admins: the model versions each one holds in
memory, and the versions each one cannot run and why (a worker image without torch cannot run Demucs, one without
a weights package cannot run that version). Each worker writes its own keys when it starts and refreshes them; they
expire with the worker."""

from __future__ import annotations

import json

from redis.asyncio import Redis

LOADED_KEY = "voicebot:loaded:"  # + worker name → JSON of the versions it holds in memory
UNRUNNABLE_KEY = "voicebot:unrunnable:"  # + worker name → JSON {family: {version: why}}


async def workers_loaded(redis: Redis) -> list[str]:
    """``worker: version + version`` for each live worker, sorted: the models it holds in memory."""
    loaded = []
    for key in await redis.keys(LOADED_KEY + "*"):
        value = await redis.get(key)
        if value is None:  # the worker went away meanwhile
            continue
        name = key.decode() if isinstance(key, bytes) else str(key)
        versions = " + ".join(str(v) for v in json.loads(value).values())
        loaded.append(f"{name.removeprefix(LOADED_KEY)}: {versions}")
    return sorted(loaded)


def unrunnable_note(unrunnable: dict[str, dict[str, str]]) -> str:
    """What a worker writes under its key: for each family, the versions it cannot run and why."""
    return json.dumps(unrunnable)


async def workers_unable(redis: Redis, family: str, version: str) -> dict[str, str]:
    """The live workers that cannot run ``version`` of ``family``: worker name → why."""
    unable: dict[str, str] = {}
    for key in await redis.keys(UNRUNNABLE_KEY + "*"):
        value = await redis.get(key)
        if value is None:  # the worker went away meanwhile
            continue
        why = json.loads(value).get(family, {}).get(version)
        if why is not None:
            name = key.decode() if isinstance(key, bytes) else str(key)
            unable[name.removeprefix(UNRUNNABLE_KEY)] = why
    return unable


def describe(unable: dict[str, str]) -> str:
    """``worker: why`` for each worker, joined with semicolons, for an admin's reply."""
    return "; ".join(f"{worker}: {why}" for worker, why in sorted(unable.items()))
