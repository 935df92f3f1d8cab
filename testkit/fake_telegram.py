"""A local fake Bot API server speaking Telegram's HTTP protocol (aiohttp), for end-to-end tests.

It serves ``/bot<token>/<method>`` (JSON, urlencoded or multipart, as aiogram sends them) and
``/file/bot<token>/<path>``; keeps files, hands out updates by long polling, and records every call. It knows
private chats, groups and supergroups (negative ids), replies, forwards, callback queries and chat members; with
``local_dir`` it acts as a local ``telegram-bot-api --local`` server: files live on disk there, ``getFile`` gives
their absolute paths, and the 20 MB download limit is 2000 MB. After ``setWebhook`` it acts as Telegram does with a
webhook: it POSTs the updates to the URL with the secret in ``X-Telegram-Bot-Api-Secret-Token``, up to
``max_connections`` at once (40 unless ``setWebhook`` says) and one chat's one at a time, in order; tries again later
when the answer is not 2xx, records the HTTP status of every push (``pushes``), and answers
``getUpdates`` with 409 Conflict until ``deleteWebhook``. With ``limits`` it answers sends beyond Telegram's rate
limits with 429 and ``retry_after``, as Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import BodyPartReader, web

BOT_USER = {"id": 42, "is_bot": True, "first_name": "Voice Bot", "username": "voice_test_bot"}
# Message ids never repeat within a process, across servers too: a job's queue id is derived from its chat and
# message, so a late handler of one test must not queue a note under an id that the next test's note will use.
_MESSAGE_IDS = itertools.count(1000)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_RETRY_S = 0.5  # how long the fake waits before pushing an update again that was not answered 2xx
CLOUD_LIMIT = 20 * 2**20  # what Telegram's own Bot API server lets a bot download
LOCAL_LIMIT = 2000 * 2**20  # what a local server does


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    filenames: dict[str, str] = field(default_factory=dict)  # the name each file part was sent under
    error: int | None = None  # the error code the call was answered with (429: a rate limit); None: it succeeded


@dataclass
class Push:
    """One POST of an update to the webhook, and the HTTP status it got (0: no answer)."""

    update: dict[str, Any]
    secret: str | None  # what the X-Telegram-Bot-Api-Secret-Token header held (None: no header)
    status: int
    at: float = field(default_factory=time.monotonic)


@dataclass
class Webhook:
    """What ``setWebhook`` set."""

    url: str
    secret: str | None
    allowed_updates: list[str] | None
    max_connections: int = 40  # Telegram's default


@dataclass
class Bucket:
    """A token bucket: ``capacity`` sends at once, ``rate`` more each second."""

    rate: float
    capacity: float
    tokens: float = -1.0  # full until first used
    updated: float = field(default_factory=time.monotonic)

    def wait(self, now: float) -> float:
        """0 when a send may go now (it is counted), else the seconds until one may."""
        if self.tokens < 0:
            self.tokens = self.capacity
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(frozen=True)
class RateLimits:
    """Telegram's limits on a bot's sending (../shared/REFERENCE.md): about a message a second in a chat (after a
    short burst), 20 a minute in a group, about 30 a second overall; beyond them 429 with ``retry_after``. Only
    ``send*`` methods count (the fake does not guess Telegram's undocumented limits on edits)."""

    chat_per_s: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20
    overall_per_s: float = 30.0


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    path: str
    data: bytes


class FakeTelegram:
    """The fake server. ``await start()``, push updates, then inspect ``calls``."""

    def __init__(
        self,
        token: str,
        *,
        local_dir: Path | None = None,
        message_ids: Iterator[int] | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self.token = token
        self.limits = limits  # None: no rate limits
        self._buckets: dict[object, Bucket] = {}
        self.local_dir = local_dir
        self.chat_members: dict[tuple[int, int], str] = {}  # (chat, user) → status; "member" when not set
        self.downloads: list[str] = []  # paths fetched over HTTP from /file/
        self.calls: list[Call] = []
        self.files: dict[str, StoredFile] = {}
        self.failures: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = _MESSAGE_IDS if message_ids is None else message_ids
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._filenames: dict[str, str] = {}
        self.url = ""
        self.webhook: Webhook | None = None  # set by setWebhook, cleared by deleteWebhook
        self.pushes: list[Push] = []
        self._delivery: asyncio.Task[None] | None = None

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, routes: Callable[[web.Application], None] | None = None
    ) -> str:
        """Serve on ``host``:``port`` (0: a free port), with ``routes`` added to the app if given; returns the URL."""
        app = web.Application(client_max_size=100 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        if routes is not None:
            routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        await self._stop_delivery()
        if self._runner is not None:
            await self._runner.cleanup()

    # ----- what tests do -------------------------------------------------------------------------

    def add_file(self, data: bytes, suffix: str = "oga") -> StoredFile:
        number = next(self._file_ids)
        path = f"voice/file_{number}.{suffix}"
        if self.local_dir is not None:  # a local server keeps files on its disk and names them by absolute path
            on_disk = self.local_dir / self.token / path
            on_disk.parent.mkdir(parents=True, exist_ok=True)
            on_disk.write_bytes(data)
            path = str(on_disk)
        stored = StoredFile(f"file-{number}", f"uniq-{number}", path, data)
        self.files[stored.file_id] = stored
        return stored

    def message(
        self, user_id: int, language: str | None = "en", chat: dict[str, Any] | None = None, **content: Any
    ) -> dict[str, Any]:
        """A message from ``user_id``, in a private chat unless ``chat`` (e.g. ``group(-100123)``) says where."""
        sender = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language:
            sender["language_code"] = language
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat or {"id": user_id, "type": "private", "first_name": sender["first_name"]},
            "from": sender,
            **content,
        }

    def push_message(
        self, user_id: int, language: str | None = "en", chat: dict[str, Any] | None = None, **content: Any
    ) -> dict[str, Any]:
        """Deliver a message from ``user_id`` (see ``message``); returns the update (to deliver it again)."""
        return self.push_update({"message": self.message(user_id, language, chat, **content)})

    def voice_message(self, user_id: int, data: bytes, duration: int, **fields: Any) -> dict[str, Any]:
        """A voice-note message from ``user_id`` carrying ``data`` (stored as a file), not delivered."""
        return self.stored_voice_message(user_id, self.add_file(data), duration, **fields)

    def stored_voice_message(self, user_id: int, stored: StoredFile, duration: int, **fields: Any) -> dict[str, Any]:
        """A voice-note message from ``user_id`` carrying a file already stored (``add_file``), not delivered."""
        data = stored.data
        voice = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": duration,
                 "mime_type": "audio/ogg", "file_size": len(data), **fields.pop("voice", {})}  # fmt: skip
        return self.message(user_id, voice=voice, **fields)

    def push_voice(self, user_id: int, data: bytes, duration: int, **fields: Any) -> dict[str, Any]:
        """A user sends ``data`` as a voice note: the file is stored, the update queued; returns the update."""
        return self.push_update({"message": self.voice_message(user_id, data, duration, **fields)})

    def push_command(
        self, user_id: int, command: str, *, chat: dict[str, Any] | None = None, reply_to: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``/command args`` (``command`` without the slash), in ``chat``, as a reply to ``reply_to`` if given."""
        name = command.split()[0]
        content: dict[str, Any] = {"text": f"/{command}", "entities": [{"type": "bot_command", "offset": 0,
                                                                        "length": len(name) + 1}]}  # fmt: skip
        if reply_to is not None:
            content["reply_to_message"] = reply_to
        return self.push_message(user_id, chat=chat, **content)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        update = {**update, "update_id": update.get("update_id") or next(self._update_ids)}
        self._updates.append(update)
        self._new_update.set()
        return update

    @staticmethod
    def group(chat_id: int, kind: str = "supergroup") -> dict[str, Any]:
        """A group or supergroup chat (``chat_id`` negative, as Telegram's are)."""
        return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}

    def push_callback(self, user_id: int, message: dict[str, Any], data: str, language: str = "en") -> None:
        sender = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": language}
        self.push_update(
            {
                "callback_query": {
                    "id": str(next(self._file_ids)),
                    "from": sender,
                    "chat_instance": "1",
                    "message": message,
                    "data": data,
                }
            }
        )

    async def post_to_webhook(self, update: dict[str, Any], secret: str | None) -> int:
        """POST ``update`` (given an ``update_id`` when it has none) to the webhook once, with ``secret`` in the
        secret header (None: no header), as someone other than Telegram might; recorded in ``pushes``. Returns the
        HTTP status."""
        if self.webhook is None:
            raise AssertionError("no webhook is set")
        update = {**update, "update_id": update.get("update_id") or next(self._update_ids)}
        async with aiohttp.ClientSession() as http:
            return await self._push(http, self.webhook.url, update, secret)

    @property
    def pending(self) -> int:
        """Updates not yet taken: by long polling, those no ``getUpdates`` has asked past."""
        return len(self._updates)

    def fail_next(self, method: str, code: int, description: str, **parameters: Any) -> None:
        """Make the next call of ``method`` fail with ``code`` (e.g. 429 with retry_after)."""
        self.failures.setdefault(method, []).append((code, description, parameters))

    def sent(self, method: str, chat_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or int(c.params.get("chat_id", 0)) == chat_id)
        ]

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 60.0) -> Any:
        """Wait until ``condition()`` is truthy (re-checked after every call); returns its value."""
        async with self._changed:
            try:
                return await asyncio.wait_for(self._changed.wait_for(condition), timeout)
            except TimeoutError:
                methods = [f"{c.method}:{c.params.get('text', '')[:60]}" for c in self.calls[-15:]]
                raise AssertionError(f"condition not met within {timeout} s; last calls: {methods}") from None

    # ----- the protocol --------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, bytes] = {}
        names: dict[str, str] = {}
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue  # aiogram sends flat forms: no nested multipart, every part named
                if part.filename:
                    files[part.name] = bytes(await part.read())
                    names[part.name] = part.filename
                else:
                    params[part.name] = await part.text()
        elif request.can_read_body:
            params.update(dict(await request.post()))
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):  # a file sent as another part
                files[key] = files.pop(value.removeprefix("attach://"))
                names[key] = names.pop(value.removeprefix("attach://"), key)
                del params[key]
            elif isinstance(value, str) and value[:1] in "{[":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params, files, names

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params, files, names = await self._params(request)
        call = Call(method, params, files, filenames=names)
        queued = self.failures.get(method)
        failure = queued.pop(0) if queued else self._rate_limited(method, params)
        if failure is not None:
            call.error = failure[0]
        if method != "getUpdates":
            await self._record(call)
        if failure is not None:
            code, description, parameters = failure
            body = {"ok": False, "error_code": code, "description": description}
            if parameters:
                body["parameters"] = parameters
            return web.json_response(body, status=code)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        self._filenames = names  # read by a handler before its first await, so no other request overwrites it
        result = await handler(params, files)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    def _rate_limited(self, method: str, params: dict[str, Any]) -> tuple[int, str, dict[str, Any]] | None:
        """429 with ``retry_after`` when sending now would break ``limits``; None when the send may go (counted)."""
        if self.limits is None or not method.startswith("send") or method == "sendChatAction":
            return None
        limits, now, chat = self.limits, time.monotonic(), int(params.get("chat_id", 0))
        chat_bucket = (
            Bucket(limits.group_per_minute / 60, limits.group_per_minute)
            if chat < 0
            else Bucket(limits.chat_per_s, limits.chat_burst)
        )
        buckets = (
            self._buckets.setdefault("overall", Bucket(limits.overall_per_s, limits.overall_per_s)),
            self._buckets.setdefault(chat, chat_bucket),
        )
        waits = [bucket.wait(now) for bucket in buckets]
        if not any(waits):
            return None
        for bucket, waited in zip(buckets, waits, strict=True):
            if not waited:  # counted, but the send does not go: give the token back
                bucket.tokens += 1
        retry_after = max(1, math.ceil(max(waits)))
        return 429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def _file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.downloads.append(path)
        for stored in self.files.values():
            if stored.path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.Response(status=404)

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = self.group(chat_id) if chat_id < 0 else {"id": chat_id, "type": "private"}
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            **content,
        }

    async def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return BOT_USER

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if self.webhook is not None:
            return web.json_response(
                {"ok": False, "error_code": 409, "description": "Conflict: can't use getUpdates method while "
                 "webhook is active; use deleteWebhook to delete the webhook first"}, status=409,
            )  # fmt: skip
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0) or 0.01)
            except TimeoutError:
                return []
        return list(self._updates)

    async def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        stored = self.files.get(str(params["file_id"]))
        if stored is None:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}, status=400
            )
        if len(stored.data) > (LOCAL_LIMIT if self.local_dir is not None else CLOUD_LIMIT):
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"}, status=400
            )
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.data), "file_path": stored.path}  # fmt: skip

    async def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return self._message(params, text=str(params["text"]))

    async def _m_editMessageText(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return {**self._message(params, text=str(params["text"])), "message_id": int(params["message_id"])}

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        return True

    async def _m_sendVoice(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        stored = self.add_file(files["voice"]) if "voice" in files else self.files[str(params["voice"])]
        voice = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                 "duration": int(params.get("duration") or 0), "mime_type": "audio/ogg",
                 "file_size": len(stored.data)}  # fmt: skip
        extra = {"caption": params["caption"]} if params.get("caption") else {}
        return self._message(params, voice=voice, **extra)

    async def _m_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        stored = self.add_file(files["document"], suffix="txt")
        name = self._filenames.get("document", "document")
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_name": name}
        return self._message(params, document=document)

    async def _m_getChatMember(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        status = self.chat_members.get((chat_id, user_id), "member")
        member: dict[str, Any] = {"status": status, "user": {"id": user_id, "is_bot": False, "first_name": "U"}}
        if status == "administrator":
            member |= {"can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                       "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
                       "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                       "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False,
                       "can_send_welcome_messages": False}  # fmt: skip
        elif status == "creator":
            member |= {"is_anonymous": False}
        return member

    # ----- webhook -------------------------------------------------------------------------------

    async def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        url = str(params.get("url") or "")
        if not url:  # an empty URL removes the webhook
            return await self._m_deleteWebhook(params, files)
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: secret token contains unallowed "
                 "characters"}, status=400,
            )  # fmt: skip
        await self._stop_delivery()
        if _true(params.get("drop_pending_updates")):
            self._updates.clear()
        connections = int(params.get("max_connections") or 40)
        if not 1 <= connections <= 100:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid max_connections"}, status=400
            )
        self.webhook = Webhook(
            url, None if secret is None else str(secret), params.get("allowed_updates"), max_connections=connections
        )
        self._delivery = asyncio.create_task(self._deliver(self.webhook))
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> bool:
        await self._stop_delivery()
        self.webhook = None
        if _true(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self.webhook is not None:
            info |= {"url": self.webhook.url, "max_connections": self.webhook.max_connections}
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    async def _stop_delivery(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            await asyncio.gather(self._delivery, return_exceptions=True)
            self._delivery = None

    async def _deliver(self, hook: Webhook) -> None:
        """Telegram's side of a webhook: up to ``max_connections`` pushes at once, one chat's updates one at a time
        and in order; an update not answered 2xx is pushed again after a pause, and its chat's later updates wait
        for it. (Telegram gives up on an update "after a reasonable amount of attempts"; the fake keeps trying until
        the webhook is removed, so a test's update is never lost to a slow start.)"""
        in_flight: dict[int, asyncio.Task[None]] = {}  # update id → its push, until answered 2xx
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=hook.max_connections)) as http:
            try:
                while True:
                    self._new_update.clear()
                    busy = {_chat_key(u) for u in self._updates if u["update_id"] in in_flight}
                    for update in self._updates:
                        if len(in_flight) >= hook.max_connections:
                            break
                        chat = _chat_key(update)
                        if chat not in busy:
                            in_flight[update["update_id"]] = asyncio.create_task(self._deliver_one(http, hook, update))
                        busy.add(chat)  # the chat's later updates wait for this one
                    arrival = asyncio.create_task(self._new_update.wait())
                    try:
                        await asyncio.wait([arrival, *in_flight.values()], return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        arrival.cancel()
                    in_flight = {key: task for key, task in in_flight.items() if not task.done()}
            finally:
                for task in in_flight.values():
                    task.cancel()
                await asyncio.gather(*in_flight.values(), return_exceptions=True)

    async def _deliver_one(self, http: aiohttp.ClientSession, hook: Webhook, update: dict[str, Any]) -> None:
        """Push ``update`` until it is answered 2xx, then drop it from the pending ones."""
        while not 200 <= await self._push(http, hook.url, update, hook.secret) < 300:
            await asyncio.sleep(WEBHOOK_RETRY_S)
        self._updates = [u for u in self._updates if u is not update]

    async def _push(self, http: aiohttp.ClientSession, url: str, update: dict[str, Any], secret: str | None) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        try:
            async with http.post(url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, OSError, TimeoutError):
            status = 0
        async with self._changed:
            self.pushes.append(Push(update, secret, status))
            self._changed.notify_all()
        return status


def _chat_key(update: dict[str, Any]) -> object:
    """What the fake keeps in order when pushing: the update's chat (an update without one is its own)."""
    for kind in ("message", "edited_message", "callback_query"):
        body = update.get(kind)
        if body is not None:
            message = body.get("message", body) if kind == "callback_query" else body
            if "chat" in message:
                return message["chat"]["id"]
    return ("update", update["update_id"])


def _true(value: Any) -> bool:
    """A boolean parameter as aiogram sends it (JSON ``true``, or the string in a form)."""
    return value is True or str(value).lower() == "true"
