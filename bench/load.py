"""Load: many notes from many users through the real bot, Redis, PostgreSQL and N worker processes,
over the fake Bot API server. Checks every note is answered exactly once; prints acknowledgement and
end-to-end latency percentiles.

    python -m bench.load [--notes 500] [--users 50] [--workers 2] [--whisper tiny.en] [--webhook] [--no-record]

``--webhook``: the bot takes the updates from Telegram's webhook pushes (the fake pushes them one at a time, in
order, as Telegram does for one bot) instead of by long polling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import numpy as np

from bench.common import ROOT, markdown_table, record
from bot.app import RunningBot, polling, webhook
from core.queue import LOADED_KEY
from core.settings import Settings
from ml.audio import SAMPLE_RATE, encode_voice
from testkit.fake_telegram import FakeTelegram
from testkit.postgres import fresh_postgres
from testkit.speech import noisy_speech
from testkit.stack import free_port
from voicebot import wiring

TOKEN = "424242:LOAD-test-token"
REDIS_URL = "redis://127.0.0.1:6379/9"


@dataclass
class LoadResult:
    notes: int
    users: int
    workers: int
    mode: str  # how the bot takes updates: polling or webhook
    wall_s: float
    ack_s: list[float]
    done_s: list[float]
    answers_per_note: dict[int, int]

    def percentile(self, values: list[float], q: int) -> float:
        """The ``q``-th percentile (1–99); NaN for fewer than two values."""
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")

    @property
    def exactly_once(self) -> bool:
        return len(self.answers_per_note) == self.notes and set(self.answers_per_note.values()) == {1}


def _env(settings: Settings, whisper: str, denoiser: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "REDIS_"))}
    return env | {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": settings.telegram_api_url,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": REDIS_URL,
        "WHISPER_VERSION": whisper,
        "DENOISER_VERSION": denoiser,
        "WHISPER_THREADS": "1",
        "PYTHONPATH": str(ROOT),
    }


async def run_load(
    notes: int, users: int, workers: int, *, whisper: str = "tiny.en", denoiser: str = "rnnoise",
    seconds: float = 2.0, timeout_s: float = 1800.0, use_webhook: bool = False,
) -> LoadResult:  # fmt: skip
    """Send ``notes`` notes from ``users`` users at once and wait until all are answered."""
    async with fresh_postgres("voicebot_load") as database_url:
        return await _run_load(database_url, notes, users, workers, whisper=whisper, denoiser=denoiser,
                               seconds=seconds, timeout_s=timeout_s, use_webhook=use_webhook)  # fmt: skip


async def _run_load(
    database_url: str, notes: int, users: int, workers: int, *, whisper: str, denoiser: str, seconds: float,
    timeout_s: float, use_webhook: bool,
) -> LoadResult:  # fmt: skip
    telegram = FakeTelegram(TOKEN)
    url = await telegram.start()
    hook: dict[str, object] = {}
    if use_webhook:
        port = free_port()
        hook = {"telegram_webhook_url": f"http://127.0.0.1:{port}/telegram/webhook", "telegram_webhook_port": port}
    settings = Settings(
        telegram_bot_token=TOKEN, telegram_api_url=url, database_url=database_url, redis_url=REDIS_URL,
        max_jobs_in_flight=notes, max_jobs_per_hour=notes, max_queue_depth=notes * 2, _env_file=None,
        **hook,  # type: ignore[arg-type]
    )  # fmt: skip
    bot: AbstractAsyncContextManager[RunningBot] = (
        webhook(settings, wiring.registry(settings))
        if use_webhook
        else polling(settings, wiring.registry(settings), polling_timeout=1)
    )
    try:
        async with bot as running:
            await running.arq.flushdb()
            processes = [
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "voicebot", "worker", env=_env(settings, whisper, denoiser), cwd=ROOT,
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )
                for _ in range(workers)
            ]  # fmt: skip
            try:
                while len(await running.arq.keys(LOADED_KEY + "*")) < workers:
                    await asyncio.sleep(0.2)
                rng = np.random.default_rng(0)
                audio, _, _ = noisy_speech(seconds, snr_db=10.0)
                audio = audio[: int(seconds * SAMPLE_RATE)]  # whole utterances run longer than asked (15 s)
                # encoded before the clock starts: encoding on the event loop would hold up the bot under test
                # different gains, different bytes: no note is answered from a stored result
                bodies = [encode_voice(audio * float(rng.uniform(0.5, 1.0))) for _ in range(notes)]
                sent_at: dict[int, float] = {}
                started = time.monotonic()
                for index, body in enumerate(bodies):
                    update = telegram.push_voice(10_000 + index % users, body, round(seconds))
                    sent_at[update["message"]["message_id"]] = time.monotonic()
                await telegram.wait_for(lambda: len(telegram.sent("sendVoice")) >= notes, timeout=timeout_s)
                wall = time.monotonic() - started
                await asyncio.sleep(3)  # would any note be answered twice?
            finally:
                for process in processes:
                    process.terminate()
                await asyncio.gather(*(p.wait() for p in processes))
                await running.arq.flushdb()
    finally:
        await telegram.stop()
    acks = {
        int(c.params["reply_parameters"]["message_id"]): c.at
        for c in telegram.sent("sendMessage") if str(c.params.get("text", "")).startswith("⏳")
    }  # fmt: skip
    answers: dict[int, int] = {}
    done: list[float] = []
    for call in telegram.sent("sendVoice"):
        message_id = int(call.params["reply_parameters"]["message_id"])
        answers[message_id] = answers.get(message_id, 0) + 1
        done.append(call.at - sent_at[message_id])
    return LoadResult(
        notes=notes, users=users, workers=workers, mode="webhook" if use_webhook else "polling", wall_s=wall,
        ack_s=[acks[m] - sent_at[m] for m in acks if m in sent_at], done_s=done, answers_per_note=answers,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=500)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--whisper", default="tiny.en")
    parser.add_argument("--denoiser", default="rnnoise")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--webhook", action="store_true", help="updates pushed to a webhook, not long polling")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run_load(args.notes, args.users, args.workers, whisper=args.whisper,
                                  denoiser=args.denoiser, seconds=args.seconds, use_webhook=args.webhook))  # fmt: skip
    p = result.percentile
    table = markdown_table(
        ["notes", "users", "workers", "updates", "answered exactly once", "ack p50 s", "ack p95 s", "reply p50 s",
         "reply p95 s", "notes/min"],
        [[result.notes, result.users, result.workers, result.mode, "yes" if result.exactly_once else "NO",
          p(result.ack_s, 50), p(result.ack_s, 95), p(result.done_s, 50), p(result.done_s, 95),
          f"{60 * result.notes / result.wall_s:.0f}"]],
    )  # fmt: skip
    notes = (
        f"All {args.notes} notes ({args.seconds:.0f}-s noisy speech, OGG/Opus) pushed at once; worker processes "
        f"with denoiser `{args.denoiser}`, Whisper `{args.whisper}` (1 thread each), PostgreSQL, Redis; updates "
        + ("pushed to the bot's webhook one at a time, in order; " if args.webhook else "by long polling; ")
        + f"pipeline processes at niceness {Settings(_env_file=None).pipeline_nice}; "
        "latency from the update being offered to the bot to its reply reaching the fake Bot API server."
    )
    record("Load: notes answered exactly once under load", table, notes, write=not args.no_record)
    if not result.exactly_once:
        sys.exit(1)


if __name__ == "__main__":
    main()
