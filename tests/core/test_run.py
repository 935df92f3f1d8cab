"""`voicebot run` as a user starts it: embedded Redis, migrated SQLite, bot and worker as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from ml.audio import encode_voice
from ml.wer import wer
from testkit.fake_telegram import FakeTelegram
from testkit.speech import noisy_speech

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "654321:RUN-test-token"


async def test_run_brings_up_everything_and_answers_a_note(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    url = await telegram.start()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    scratch = tmp_path / "tmp"  # the processes' temporary folder: nothing may be left in it
    scratch.mkdir()
    env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": url, "PYTHONPATH": str(ROOT), "ADMIN_IDS": "1",
            "TMPDIR": str(scratch)}  # fmt: skip
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
