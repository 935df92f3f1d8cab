"""Load: many notes from many users at once, through every part as users deploy it, each its own process: the bot
(``voicebot bot``), N workers (``voicebot worker``), Redis, PostgreSQL, and the fake Bot API server
(``testkit.fake_telegram_service``, standing for Telegram, whose servers do not share our cores). Checks every note is
answered exactly once; prints acknowledgement and end-to-end latency percentiles.

    python -m bench.load [--notes 500] [--users 50] [--workers 2] [--whisper tiny.en] [--webhook] [--no-record]

``--workers 0``: the bot alone, timing the acknowledgements (nothing is answered, nothing recorded).

``--webhook``: the bot takes the updates from Telegram's webhook pushes (as Telegram does: up to 40 at once, one
chat's in order) instead of by long polling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from redis.asyncio import Redis

from bench.common import ROOT, markdown_table, record
from core.fleet import LOADED_KEY
from core.settings import Settings
from ml.audio import SAMPLE_RATE, encode_voice
from testkit.fake_telegram_service import RemoteTelegram
from testkit.postgres import fresh_postgres
from testkit.speech import noisy_speech
from testkit.stack import free_port

TOKEN = "424242:LOAD-test-token"
REDIS_URL = "redis://127.0.0.1:6379/9"
ACK = "⏳"  # how the acknowledgement (core.texts "queued") begins


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
    rate_limited: int = 0  # calls the fake Bot API server answered 429 (Telegram's rate limits)
    in_order: bool = True  # every chat's notes were answered in the order they were sent

    def percentile(self, values: list[float], q: int) -> float:
        """The ``q``-th percentile (1–99); NaN for fewer than two values."""
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")

    @property
    def exactly_once(self) -> bool:
        return len(self.answers_per_note) == self.notes and set(self.answers_per_note.values()) == {1}


@dataclass(frozen=True)
class Stack:
    """Where the parts of the stack under load are, and what they run."""

    database_url: str
    telegram_url: str
    whisper: str
    denoiser: str
    notes: int
    webhook_port: int | None  # None: long polling

    def env(self) -> dict[str, str]:
        """The environment of the bot and the workers: the stack's addresses, limits that let the whole burst in."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "REDIS_"))}
        env |= {
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.telegram_url, "DATABASE_URL": self.database_url,
            "REDIS_URL": REDIS_URL, "WHISPER_VERSION": self.whisper, "DENOISER_VERSION": self.denoiser,
            "WHISPER_THREADS": "1", "MAX_JOBS_IN_FLIGHT": str(self.notes), "MAX_JOBS_PER_HOUR": str(self.notes),
            "MAX_QUEUE_DEPTH": str(2 * self.notes), "PYTHONPATH": str(ROOT),
        }  # fmt: skip
        if self.webhook_port is not None:
            env |= {
                "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{self.webhook_port}/telegram/webhook",
                "TELEGRAM_WEBHOOK_PORT": str(self.webhook_port),
            }
        return env


async def _spawn(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


@contextlib.asynccontextmanager
async def _processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Processes started into the list are terminated (and waited for) on leaving."""
    processes: list[asyncio.subprocess.Process] = []
    try:
        yield processes
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        await asyncio.gather(*(p.wait() for p in processes))


async def _until(condition: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench.load: {what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def run_load(
    notes: int, users: int, workers: int, *, whisper: str = "tiny.en", denoiser: str = "rnnoise",
    seconds: float = 2.0, timeout_s: float = 1800.0, use_webhook: bool = False, telegram_limits: bool = False,
) -> LoadResult:  # fmt: skip
    """Send ``notes`` notes from ``users`` users at once and wait until all are answered; with
    ``telegram_limits`` the fake Bot API server keeps Telegram's rate limits (429 beyond them)."""
    async with fresh_postgres("voicebot_load") as database_url, _processes() as processes:
        telegram_port = free_port()
        fake_env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
        limits = ["--rate-limits"] if telegram_limits else []
        fake = ["-m", "testkit.fake_telegram_service", "--port", str(telegram_port), *limits]
        processes.append(await _spawn(*fake, env=fake_env))
        telegram = RemoteTelegram(f"http://127.0.0.1:{telegram_port}")
        stack = Stack(database_url, telegram.url, whisper, denoiser, notes, free_port() if use_webhook else None)
        redis = Redis.from_url(REDIS_URL)
        try:
            await redis.flushdb()
            await _until(_answers(telegram.calls), "the fake Bot API server starting", timeout=30)
            processes.append(await _spawn("-m", "voicebot", "bot", env=stack.env()))
            processes.extend([await _spawn("-m", "voicebot", "worker", env=stack.env()) for _ in range(workers)])
            await _until(lambda: _called(telegram, "setMyCommands"), "the bot starting")
            await _until(lambda: _count(redis, LOADED_KEY + "*", workers), "the workers loading their models")
            return await _burst(telegram, stack, notes, users, workers, seconds, timeout_s)
        finally:
            await redis.flushdb()
            await redis.aclose()


def _answers(request: Any) -> Any:
    async def answers() -> bool:
        with contextlib.suppress(OSError, AssertionError):
            await request()
            return True
        return False

    return answers


async def _called(telegram: RemoteTelegram, method: str) -> bool:
    return any(call["method"] == method for call in await telegram.calls())


async def _count(redis: Redis, pattern: str, at_least: int) -> bool:
    return len(await redis.keys(pattern)) >= at_least


async def _burst(
    telegram: RemoteTelegram, stack: Stack, notes: int, users: int, workers: int, seconds: float, timeout_s: float
) -> LoadResult:
    rng = np.random.default_rng(0)
    audio, _, _ = noisy_speech(seconds, snr_db=10.0)
    audio = audio[: int(seconds * SAMPLE_RATE)]  # whole utterances run longer than asked (15 s)
    # different gains, different bytes: no note is answered from a stored result
    file_ids = [await telegram.add_file(encode_voice(audio * float(rng.uniform(0.5, 1.0)))) for _ in range(notes)]
    before = len(await telegram.calls())
    pushed = await telegram.push_voices(
        [(10_000 + i % users, file_id, round(seconds)) for i, file_id in enumerate(file_ids)]
    )
    sent_at = {int(p["message_id"]): float(p["at"]) for p in pushed}
    calls: list[dict[str, Any]] = []  # those that went through (not answered 429)
    deadline = time.monotonic() + timeout_s
    awaited = "sendVoice" if workers else "sendMessage"  # no workers: the acknowledgements alone
    seen_count = limited = 0
    while sum(c["method"] == awaited for c in calls) < notes:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench.load: not every note was answered within {timeout_s:.0f} s")
        await asyncio.sleep(1.0)
        seen = await telegram.calls(before + seen_count)
        seen_count += len(seen)
        limited += sum(c["error"] == 429 for c in seen)
        calls += [c for c in seen if c["error"] is None]
    await asyncio.sleep(3)  # would any note be answered twice?
    calls += [c for c in await telegram.calls(before + seen_count) if c["error"] is None]
    acks = {
        int(c["params"]["reply_parameters"]["message_id"]): c["at"]
        for c in calls if c["method"] == "sendMessage" and str(c["params"].get("text", "")).startswith(ACK)
    }  # fmt: skip
    answers: dict[int, int] = {}
    done: list[float] = []
    answered: dict[int, list[int]] = {}  # chat → the notes answered, in the order of the answers
    for call in calls:
        if call["method"] == "sendVoice":
            message_id = int(call["params"]["reply_parameters"]["message_id"])
            answers[message_id] = answers.get(message_id, 0) + 1
            done.append(call["at"] - sent_at[message_id])
            answered.setdefault(int(call["params"]["chat_id"]), []).append(message_id)
    wall = max(c["at"] for c in calls if c["method"] == awaited) - min(sent_at.values())
    return LoadResult(
        notes=notes, users=users, workers=workers, mode="polling" if stack.webhook_port is None else "webhook",
        wall_s=wall, ack_s=[acks[m] - sent_at[m] for m in acks if m in sent_at], done_s=done, answers_per_note=answers,
        rate_limited=limited, in_order=all(notes == sorted(notes) for notes in answered.values()),
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
    parser.add_argument("--telegram-limits", action="store_true", help="the fake keeps Telegram's rate limits")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run_load(args.notes, args.users, args.workers, whisper=args.whisper,
                                  denoiser=args.denoiser, seconds=args.seconds, use_webhook=args.webhook,
                                  telegram_limits=args.telegram_limits))  # fmt: skip
    p = result.percentile
    yes = {True: "yes", False: "NO"}
    table = markdown_table(
        ["notes", "users", "workers", "updates", "Telegram's limits", "answered exactly once", "in order",
         "acknowledged", "ack p50 s", "ack p95 s", "reply p50 s", "reply p95 s", "notes/min", "429s"],
        [[result.notes, result.users, result.workers, result.mode, "yes" if args.telegram_limits else "no",
          yes[result.exactly_once], yes[result.in_order], len(result.ack_s), p(result.ack_s, 50),
          p(result.ack_s, 95), p(result.done_s, 50), p(result.done_s, 95), f"{60 * result.notes / result.wall_s:.0f}",
          result.rate_limited]],
    )  # fmt: skip
    notes = (
        f"All {args.notes} notes ({args.seconds:.0f}-s noisy speech, OGG/Opus) pushed at once; worker processes "
        f"with denoiser `{args.denoiser}`, Whisper `{args.whisper}` (1 thread each), PostgreSQL, Redis; updates "
        + (
            "pushed to the bot's webhook, up to 40 at once, one chat's in order; "
            if args.webhook
            else "by long polling; "
        )
        + f"pipeline processes at niceness {Settings(_env_file=None).pipeline_nice}; "
        "the bot, each worker and the fake Bot API server in processes of their own; latency from the update being "
        "offered to the bot to its reply reaching the fake Bot API server."
    )
    record(
        "Load: notes answered exactly once under load", table, notes, write=not (args.no_record or args.workers == 0)
    )
    if args.workers and not result.exactly_once:
        sys.exit(1)


if __name__ == "__main__":
    main()
