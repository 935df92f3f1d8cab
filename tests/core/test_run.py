"""`voicebot run` as a user starts it: embedded Redis, migrated SQLite, bot, worker and web page as real processes;
without a token, the demo on the sample, then the worker and the web page."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from ml.audio import encode_voice
from ml.wer import wer
from testkit.fake_telegram import FakeTelegram
from testkit.speech import noisy_speech

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "654321:RUN-test-token"


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


async def test_run_brings_up_everything_and_answers_a_note(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    url = await telegram.start()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    scratch = tmp_path / "tmp"  # the processes' temporary folder: nothing may be left in it
    scratch.mkdir()
    env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": url, "PYTHONPATH": str(ROOT), "ADMIN_IDS": "1",
            "TMPDIR": str(scratch), "WEB_PORT": _free_port()}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        noisy, reference, _ = noisy_speech(6.0, snr_db=10.0)
        telegram.push_voice(9, encode_voice(noisy), 6)
        sent = await telegram.wait_for(lambda: telegram.sent("sendVoice", 9), timeout=180)
        assert wer(reference, sent[0].params["caption"]) < 0.5
        assert (tmp_path / "var" / "voicebot.db").exists()  # the default SQLite database, migrated
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        await telegram.stop()
    log = output.decode()
    assert process.returncode == 0, log
    assert list(scratch.iterdir()) == []  # no temporary file left behind
    assert TOKEN not in log and TOKEN.split(":")[1] not in log


async def test_run_without_token_runs_the_demo_then_serves_the_web_page(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "TELEGRAM_BOT_TOKEN")}
    env |= {"PYTHONPATH": str(ROOT), "WEB_PORT": port}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicebot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # the demo first (models load), then the page
                try:
                    async with http.get(base + "/") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert process.returncode is None, "voicebot run stopped early"
                await asyncio.sleep(0.5)
            noisy, reference, _ = noisy_speech(6.0, snr_db=10.0)
            form = aiohttp.FormData()
            form.add_field("file", encode_voice(noisy), filename="note.ogg", content_type="audio/ogg")
            async with http.post(base + "/api/jobs", data=form) as response:
                assert response.status == 202
                status_url = (await response.json())["status_url"]
            for _ in range(360):
                async with http.get(base + status_url) as response:
                    job = await response.json()
                if job["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.5)
        assert job["status"] == "done", job
        assert wer(reference, job["text"]) < 0.5
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    log = output.decode()
    assert process.returncode == 0, log
    assert "TELEGRAM_BOT_TOKEN" in log and "BotFather" in log
    data = json.loads((tmp_path / "var" / "sample-output" / "noisy_note.json").read_text())
    assert wer("there's iron they say in all our blood", " ".join(data["text"].split()[:8])) < 0.3
    assert any((tmp_path / "var" / "web").iterdir())  # the upload's folder, in the default WEB_DATA_DIR
