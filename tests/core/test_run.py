"""`voicebot run` as a user starts it: embedded Redis, migrated SQLite, bot and worker as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from ml.audio import encode_voice
from ml.wer import wer
from tests.audio_factory import noisy_speech
from tests.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "654321:RUN-test-token"


async def test_run_brings_up_everything_and_answers_a_note(tmp_path: Path) -> None:
    telegram = FakeTelegram(TOKEN)
    url = await telegram.start()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": url, "PYTHONPATH": str(ROOT), "ADMIN_IDS": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        noisy, reference, _ = noisy_speech(6.0, snr_db=10.0)
        data = encode_voice(noisy)
        stored = telegram.add_file(data)
        voice = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": 6,
                 "mime_type": "audio/ogg", "file_size": len(data)}  # fmt: skip
        telegram.push_message(9, voice=voice)
        sent = await telegram.wait_for(lambda: telegram.sent("sendVoice", 9), timeout=180)
        assert wer(reference, sent[0].params["caption"]) < 0.5
        assert (tmp_path / "var" / "voicebot.db").exists()  # the default SQLite database, migrated
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        await telegram.stop()
    log = output.decode()
    assert process.returncode == 0, log
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
