"""The fake Bot API server as a service of its own: a container on the compose test's network, where the bot and the
workers reach it by its service name. Telegram's side is ``FakeTelegram``'s; a control API under ``/_fake/`` lets a
test outside the network act as users and read what the bot sent:

- ``POST /_fake/voice?user_id=&duration=`` (body: the note's bytes): a user sends a voice note; answers the update.
- ``POST /_fake/command`` (JSON ``{"user_id", "command"}``): a user sends ``/command``; answers the update.
- ``POST /_fake/callback`` (JSON ``{"user_id", "message_id", "data"}``): a user presses a button in their chat.
- ``POST /_fake/file`` (body: the bytes): store a file users may send later; answers its ``file_id``.
- ``POST /_fake/voices`` (JSON ``[{"user_id", "file_id", "duration"}, ...]``): users send stored files as voice
  notes, all in the same instant; answers each update's ``message_id`` and ``at``.
- ``GET /_fake/calls?since=N``: the Bot API calls from the N-th on: method, parameters, sizes of the files sent,
  ``at``, and ``error`` (the error code it was answered with, 429 beyond ``--rate-limits``; null when it succeeded).

``at`` is the service's own monotonic clock in seconds, the same for updates and calls: a burst's latencies are
differences of two ``at``. ``RemoteTelegram`` is the control API's client.

    TELEGRAM_BOT_TOKEN=... python -m testkit.fake_telegram_service --host 0.0.0.0 --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from testkit.fake_telegram import FakeTelegram, RateLimits


class Control:
    """The ``/_fake/`` routes over one fake server."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    def add_routes(self, app: web.Application) -> None:
        """Add the control routes to the fake server's app."""
        app.router.add_post("/_fake/voice", self.voice)
        app.router.add_post("/_fake/file", self.file)
        app.router.add_post("/_fake/voices", self.voices)
        app.router.add_post("/_fake/command", self.command)
        app.router.add_post("/_fake/callback", self.callback)
        app.router.add_get("/_fake/calls", self.calls)

    async def voice(self, request: web.Request) -> web.Response:
        user_id, duration = int(request.query["user_id"]), int(request.query["duration"])
        return web.json_response(self.fake.push_voice(user_id, await request.read(), duration))

    async def file(self, request: web.Request) -> web.Response:
        return web.json_response({"file_id": self.fake.add_file(await request.read()).file_id})

    async def voices(self, request: web.Request) -> web.Response:
        notes = await request.json()
        messages = [
            self.fake.stored_voice_message(int(n["user_id"]), self.fake.files[str(n["file_id"])], int(n["duration"]))
            for n in notes
        ]  # fmt: skip
        at = time.monotonic()
        for message in messages:
            self.fake.push_update({"message": message})
        return web.json_response([{"message_id": m["message_id"], "at": at} for m in messages])

    async def command(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response(self.fake.push_command(int(body["user_id"]), str(body["command"])))

    async def callback(self, request: web.Request) -> web.Response:
        body = await request.json()
        user_id = int(body["user_id"])
        message = {"message_id": int(body["message_id"]), "date": 0, "chat": {"id": user_id, "type": "private"}}
        self.fake.push_callback(user_id, message, str(body["data"]))
        return web.json_response(True)

    async def calls(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response(
            [
                {
                    "method": c.method,
                    "params": c.params,
                    "at": c.at,
                    "error": c.error,
                    "files": {name: len(data) for name, data in c.files.items()},
                }
                for c in self.fake.calls[since:]
            ]
        )


class RemoteTelegram:
    """The fake Bot API server of a compose stack, over its control API (``testkit.fake_telegram_service``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        async with aiohttp.ClientSession() as http, http.request(method, self.url + path, **kwargs) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def push_voice(self, user_id: int, data: bytes, duration: int) -> dict[str, Any]:
        """A user sends ``data`` as a voice note; returns the update."""
        params = {"user_id": str(user_id), "duration": str(duration)}
        result: dict[str, Any] = await self._request("POST", "/_fake/voice", params=params, data=data)
        return result

    async def push_command(self, user_id: int, command: str) -> dict[str, Any]:
        """A user sends ``/command``; returns the update."""
        result: dict[str, Any] = await self._request(
            "POST", "/_fake/command", json={"user_id": user_id, "command": command}
        )
        return result

    async def push_callback(self, user_id: int, message_id: int, data: str) -> None:
        """A user presses the button carrying ``data`` under message ``message_id``."""
        await self._request(
            "POST", "/_fake/callback", json={"user_id": user_id, "message_id": message_id, "data": data}
        )

    async def add_file(self, data: bytes) -> str:
        """Store ``data`` as a file users may send (``push_voices``); returns its file id."""
        stored: dict[str, str] = await self._request("POST", "/_fake/file", data=data)
        return stored["file_id"]

    async def push_voices(self, notes: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
        """Users send stored files as voice notes, all at once: ``(user_id, file_id, duration)`` each; returns each
        update's ``message_id`` and the instant ``at`` it was offered to the bot."""
        body = [{"user_id": user, "file_id": file_id, "duration": duration} for user, file_id, duration in notes]
        pushed: list[dict[str, Any]] = await self._request("POST", "/_fake/voices", json=body)
        return pushed

    async def calls(self, since: int = 0) -> list[dict[str, Any]]:
        """The Bot API calls the bot and the workers made, from the ``since``-th on (``of`` picks a method and
        chat)."""
        calls: list[dict[str, Any]] = await self._request("GET", "/_fake/calls", params={"since": str(since)})
        return calls

    async def wait_for(self, condition: Callable[[list[dict[str, Any]]], Any], timeout: float = 120.0) -> Any:
        """Poll the calls until ``condition(calls)`` is truthy; returns its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            calls = await self.calls()
            value = condition(calls)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                last = [f"{c['method']}:{str(c['params'].get('text', ''))[:60]}" for c in calls[-15:]]
                raise AssertionError(f"condition not met within {timeout} s; last calls: {last}")
            await asyncio.sleep(0.5)


def of(calls: list[dict[str, Any]], method: str, chat_id: int) -> list[dict[str, Any]]:
    """The calls of ``method`` to ``chat_id``."""
    return [c for c in calls if c["method"] == method and int(c["params"].get("chat_id", 0)) == chat_id]


async def serve(token: str, host: str, port: int, *, limits: bool = False) -> None:
    """Serve the fake and its control API until cancelled; with ``limits``, Telegram's rate limits on sending."""
    # message ids go on growing across restarts of the service, as Telegram's never repeat in a chat (a job's key is
    # its chat and message: a repeated id would find the job of a note sent before the restart)
    fake = FakeTelegram(
        token, message_ids=itertools.count(int(time.time() * 1000)), limits=RateLimits() if limits else None
    )
    await fake.start(host, port, routes=Control(fake).add_routes)
    print(f"fake Bot API server on {fake.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--rate-limits", action="store_true", help="answer sends beyond Telegram's limits with 429")
    args = parser.parse_args()
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        parser.error("TELEGRAM_BOT_TOKEN is not set")
    asyncio.run(serve(token, args.host, args.port, limits=args.rate_limits))


if __name__ == "__main__":
    main()
