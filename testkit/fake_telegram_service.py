"""The fake Bot API server as a service of its own: a container on the compose test's network, where the bot and the
workers reach it by its service name. Telegram's side is ``FakeTelegram``'s; a control API under ``/_fake/`` lets a
test outside the network act as users and read what the bot sent:

- ``POST /_fake/voice?user_id=&duration=`` (body: the note's bytes): a user sends a voice note; answers the update.
- ``POST /_fake/command`` (JSON ``{"user_id", "command"}``): a user sends ``/command``; answers the update.
- ``POST /_fake/callback`` (JSON ``{"user_id", "message_id", "data"}``): a user presses a button in their chat.
- ``GET /_fake/calls?since=N``: the Bot API calls from the N-th on: method, parameters, sizes of the files sent.

    TELEGRAM_BOT_TOKEN=... python -m testkit.fake_telegram_service --host 0.0.0.0 --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time

from aiohttp import web

from testkit.fake_telegram import FakeTelegram


class Control:
    """The ``/_fake/`` routes over one fake server."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    def add_routes(self, app: web.Application) -> None:
        """Add the control routes to the fake server's app."""
        app.router.add_post("/_fake/voice", self.voice)
        app.router.add_post("/_fake/command", self.command)
        app.router.add_post("/_fake/callback", self.callback)
        app.router.add_get("/_fake/calls", self.calls)

    async def voice(self, request: web.Request) -> web.Response:
        user_id, duration = int(request.query["user_id"]), int(request.query["duration"])
        return web.json_response(self.fake.push_voice(user_id, await request.read(), duration))

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
                {"method": c.method, "params": c.params, "files": {name: len(data) for name, data in c.files.items()}}
                for c in self.fake.calls[since:]
            ]
        )


async def serve(token: str, host: str, port: int) -> None:
    """Serve the fake and its control API until cancelled."""
    # message ids go on growing across restarts of the service, as Telegram's never repeat in a chat (a job's key is
    # its chat and message: a repeated id would find the job of a note sent before the restart)
    fake = FakeTelegram(token, message_ids=itertools.count(int(time.time() * 1000)))
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
    args = parser.parse_args()
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        parser.error("TELEGRAM_BOT_TOKEN is not set")
    asyncio.run(serve(token, args.host, args.port))


if __name__ == "__main__":
    main()
