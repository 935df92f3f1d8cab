"""One chat's updates are handled one at a time in arrival order; other chats' are not held up."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from bot.middlewares import ChatOrder


async def test_one_chats_updates_run_in_order_and_other_chats_meanwhile() -> None:
    order = ChatOrder()
    done: list[str] = []

    def handler(name: str, delay: float) -> Any:
        async def handle(event: object, data: dict[str, Any]) -> None:
            await asyncio.sleep(delay)
            done.append(name)

        return handle

    def run(name: str, chat: int, delay: float) -> asyncio.Task[Any]:
        return asyncio.create_task(order(handler(name, delay), object(), {"event_chat": SimpleNamespace(id=chat)}))

    # the first update of chat 1 is the slowest to handle; chat 2's single update needs no wait
    await asyncio.gather(run("1a", 1, 0.15), run("1b", 1, 0.01), run("1c", 1, 0.05), run("2a", 2, 0.01))
    assert done == ["2a", "1a", "1b", "1c"]
    assert order.locks == {}  # nothing kept once a chat is quiet
