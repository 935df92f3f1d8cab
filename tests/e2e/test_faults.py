"""Faults and bad input: nothing lost, nothing answered twice (real processes where a crash is the point)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from core.db.engine import make_engine, make_sessionmaker
from core.db.models import Job, JobStatus, User, utcnow
from migrations import upgrade
from ml.audio import encode_voice
from testkit.fake_telegram import FakeTelegram, RateLimits
from testkit.settings import TOKEN
from testkit.speech import noisy_speech
from testkit.stack import USER, Stack, finished, job_for, make_settings, run_stack, send_note
from voicebot.supervisor import embedded_redis
from worker.runner import PipelineRunner

FAST_RECOVERY = {"job_heartbeat_s": 1.0, "job_stale_after_s": 4.0, "requeue_after_s": 4.0}
FAST_ENV = {key.upper(): str(value) for key, value in FAST_RECOVERY.items()}


async def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'voicebot.db'}"
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
async def bot_only(telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path) -> AsyncIterator[Stack]:
    """The bot alone (SQLite, the machine's Redis): workers are started by the test as real processes."""
    settings = make_settings(telegram.url, await sqlite_url(tmp_path), models, tmp_path, **FAST_RECOVERY)
    async for running in run_stack(telegram, settings, models, with_worker=False):
        yield running


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)


async def test_worker_killed_mid_job_answers_exactly_once(bot_only: Stack) -> None:
    stack, fake = bot_only, bot_only.telegram
    first = await stack.spawn_worker(**FAST_ENV)
    noisy, _, _ = noisy_speech(30.0, snr_db=5.0)
    update = send_note(stack, USER, noisy)
    await fake.wait_for(lambda: [c for c in fake.sent("editMessageText", USER) if "Transcribing" in c.params["text"]])
    import psutil

    pipeline = psutil.Process(first.pid).children()  # the worker's pipeline process, busy with the note
    first.kill()
    await first.wait()
    assert not fake.sent("sendVoice")  # nothing partial reached the user
    _, alive = await asyncio.to_thread(psutil.wait_procs, pipeline, 10)
    assert pipeline and not alive  # it dies with its worker instead of finishing the note for nobody
    killed = time.monotonic()
    second = await stack.spawn_worker(**FAST_ENV)
    try:
        await fake.wait_for(lambda: fake.sent("sendVoice", USER), timeout=180)
        recovered_s = time.monotonic() - killed
        await finished(stack, USER)
        await asyncio.sleep(3 * FAST_RECOVERY["job_heartbeat_s"])  # time for any duplicate to show up
    finally:
        await stop(second)
    # bound: stale after 4 s + the rescue's 20-s tick + a worker start + processing a 30-s note
    assert recovered_s < 90, recovered_s
    assert len(fake.sent("sendVoice", USER)) == 1
    job = await job_for(stack, update)
    assert job.status == JobStatus.done and job.attempts == 2


async def test_queue_lost_with_redis_is_rebuilt(telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path) -> None:
    port = 16_379 + int(time.time()) % 1000
    settings = make_settings(
        telegram.url, await sqlite_url(tmp_path), models, tmp_path, redis_url=f"redis://127.0.0.1:{port}/0",
        **FAST_RECOVERY,
    )  # fmt: skip
    with embedded_redis(port):
        async for stack in run_stack(telegram, settings, models, with_worker=False):
            notes = [send_note(stack, 600 + i, noisy_speech(3.0, snr_db=15.0)[0]) for i in range(2)]
            await telegram.wait_for(lambda: len(telegram.sent("sendMessage")) >= 2)
            for _ in range(100):  # the bot queues right after acknowledging
                if await stack.arq.zcard("voicebot:queue") == 2:
                    break
                await asyncio.sleep(0.05)
            assert await stack.arq.zcard("voicebot:queue") == 2
    # Redis restarts empty (it keeps nothing on disk): the queue is gone, the database still knows the jobs
    with embedded_redis(port):
        async for stack in run_stack(telegram, settings, models, with_worker=False):
            assert await stack.arq.zcard("voicebot:queue") == 0
            await asyncio.sleep(FAST_RECOVERY["requeue_after_s"])
            worker = await stack.spawn_worker(**FAST_ENV)
            try:
                await telegram.wait_for(lambda: len(telegram.sent("sendVoice")) >= 2, timeout=120)
                for i in range(2):
                    await finished(stack, 600 + i)
            finally:
                await stop(worker)
            assert sorted(int(c.params["chat_id"]) for c in telegram.sent("sendVoice")) == [600, 601]
            for note in notes:
                assert (await job_for(stack, note)).status == JobStatus.done


async def test_redis_down_tells_the_user_to_retry(
    telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path
) -> None:
    port = 17_379 + int(time.time()) % 1000
    settings = make_settings(telegram.url, await sqlite_url(tmp_path), models, tmp_path,
                             redis_url=f"redis://127.0.0.1:{port}/0")  # fmt: skip
    async for stack in _stack_without_redis(telegram, settings, models, port):
        update = send_note(stack, USER, noisy_speech(3.0)[0])
        reply = await telegram.wait_for(
            lambda: [c for c in telegram.calls if "temporary problem" in str(c.params.get("text", ""))]
        )
        assert reply
        job = await job_for(stack, update)
        assert job.status == JobStatus.failed and job.error_code == "queue_unavailable"


async def _stack_without_redis(
    telegram: FakeTelegram, settings, models: PipelineRunner, port: int
) -> AsyncIterator[Stack]:
    """A bot whose Redis connection pool was made while Redis ran, and Redis then went away."""
    with embedded_redis(port) as _:
        runner = run_stack(telegram, settings, models, with_worker=False)
        stack = await runner.__anext__()
    try:
        yield stack
    finally:
        with contextlib.suppress(Exception):
            await runner.aclose()


class TcpProxy:
    """A TCP proxy we can take down and bring up: the database 'briefly unreachable'."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = True
        self.connections: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.connections += [writer, upstream_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    def down(self) -> None:
        self.up = False
        for writer in self.connections:
            writer.close()
        self.connections.clear()

    async def close(self) -> None:
        self.down()
        if self.server is not None:
            self.server.close()


async def test_database_briefly_unreachable(
    telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the proxy sits in front of PostgreSQL")
    proxy = TcpProxy(5432)
    await proxy.start()
    proxied = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = make_settings(telegram.url, proxied, models, tmp_path)
    try:
        async for stack in run_stack(telegram, settings, models, with_worker=False):
            proxy.down()
            send_note(stack, USER, noisy_speech(3.0)[0])
            await telegram.wait_for(lambda: [c for c in telegram.sent("sendMessage", USER)
                                             if "temporary problem" in c.params["text"]], timeout=60)  # fmt: skip
            proxy.up = True
            update = send_note(stack, USER, noisy_speech(3.0)[0])
            await telegram.wait_for(lambda: [c for c in telegram.sent("sendMessage", USER)
                                             if "Queued" in c.params["text"]], timeout=60)  # fmt: skip
            async with stack.sessionmaker() as session:
                jobs = (await session.scalars(select(Job))).all()
            assert [j.message_id for j in jobs] == [update["message"]["message_id"]]  # nothing half-recorded
    finally:
        await proxy.close()


async def test_same_audio_again_is_answered_from_the_stored_result(stack: Stack) -> None:
    fake = stack.telegram
    noisy, _, _ = noisy_speech(5.0, snr_db=15.0)
    first = send_note(stack, USER, noisy)
    await finished(stack, USER)
    second = fake.push_message(USER, voice=first["message"]["voice"])  # the same file, sent again
    await finished(stack, USER, count=2)
    voices = fake.sent("sendVoice", USER)
    assert len(voices) == 2
    assert (
        "voice" in voices[0].files and voices[1].params["voice"] == (await job_for(stack, first)).result_voice_file_id
    )
    assert len(fake.sent("getFile")) == 1  # not downloaded, not processed again
    job = await job_for(stack, second)
    assert job.reused_job_id == (await job_for(stack, first)).id
    assert job.transcript == voices[0].params["caption"] == voices[1].params["caption"]


def _mp4_without_sound() -> bytes:
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 8, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


async def test_bad_inputs_get_clear_replies(stack: Stack) -> None:
    fake = stack.telegram
    empty = fake.add_file(b"")
    fake.push_message(701, voice={"file_id": empty.file_id, "file_unique_id": empty.file_unique_id, "duration": 1})
    video = fake.add_file(_mp4_without_sound(), suffix="mp4")
    fake.push_message(702, video={"file_id": video.file_id, "file_unique_id": video.file_unique_id, "width": 64,
                                  "height": 64, "duration": 1})  # fmt: skip
    photo = [{"file_id": "p1", "file_unique_id": "pu1", "width": 10, "height": 10}]
    fake.push_message(703, photo=photo, caption="🎉 ‮ тест \u0000 𝕌𝕟𝕚𝕔𝕠𝕕𝕖")
    pdf = {"file_id": "d1", "file_unique_id": "du1", "file_name": "report.pdf", "mime_type": "application/pdf"}
    fake.push_message(704, document=pdf)
    voice_with_caption = send_note(stack, 705, noisy_speech(4.0, snr_db=15.0)[0], caption="Привет 👋🏽 ‮ 🤖")

    def edits(chat: int, needle: str) -> list:
        return [c for c in fake.sent("editMessageText", chat) if needle in c.params["text"]]

    await fake.wait_for(lambda: edits(701, "empty") or edits(701, "could not read"))
    await fake.wait_for(lambda: edits(702, "no sound track") or edits(702, "could not read"))
    await fake.wait_for(lambda: fake.sent("sendMessage", 703) and fake.sent("sendMessage", 704))
    assert "voice notes" in fake.sent("sendMessage", 703)[0].params["text"]
    assert "voice notes" in fake.sent("sendMessage", 704)[0].params["text"]
    await finished(stack, 705)
    assert (await job_for(stack, voice_with_caption)).status == JobStatus.done
    async with stack.sessionmaker() as session:
        failed = {j.chat_id: j.error_code for j in (await session.scalars(select(Job))).all() if j.error_code}
    assert failed[701] in ("empty_audio", "unsupported_audio") and failed[702] == "unsupported_audio"


async def test_notes_longer_than_allowed_fail_while_decoding(
    telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path
) -> None:
    settings = make_settings(telegram.url, await sqlite_url(tmp_path), models, tmp_path, max_duration_s=20.0)
    async for stack in run_stack(telegram, settings, models, with_worker=True):
        data = encode_voice(noisy_speech(40.0, snr_db=15.0)[0])
        stored = telegram.add_file(data, suffix="ogg")
        document = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_name": "talk.ogg",
                    "mime_type": "audio/ogg", "file_size": len(data)}  # fmt: skip
        update = telegram.push_message(USER, document=document)  # a file: Telegram states no duration
        await telegram.wait_for(lambda: [c for c in telegram.sent("editMessageText", USER)
                                         if "the limit is 20 s" in c.params["text"]])  # fmt: skip
        job = await job_for(stack, update)
        assert job.status == JobStatus.failed and job.error_code == "too_long"


async def test_per_user_and_queue_limits(telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path) -> None:
    settings = make_settings(telegram.url, await sqlite_url(tmp_path), models, tmp_path,
                             max_jobs_in_flight=2, max_jobs_per_hour=3, max_queue_depth=3)  # fmt: skip
    async for stack in run_stack(telegram, settings, models, with_worker=False):
        for _ in range(3):
            send_note(stack, USER, noisy_speech(2.0)[0])
            await asyncio.sleep(0.3)
        replies = await telegram.wait_for(lambda: len(telegram.sent("sendMessage", USER)) >= 3
                                          and telegram.sent("sendMessage", USER))  # fmt: skip
        assert "already have 2 notes in progress" in replies[2].params["text"]
        assert "about" in replies[2].params["text"]
        send_note(stack, 901, noisy_speech(2.0)[0])  # a third queued note fills the queue (depth 3)
        await telegram.wait_for(lambda: telegram.sent("sendMessage", 901))
        send_note(stack, 902, noisy_speech(2.0)[0])
        busy = await telegram.wait_for(lambda: telegram.sent("sendMessage", 902))
        assert "very busy" in busy[0].params["text"]
        async with stack.sessionmaker() as session:
            codes = sorted(str(j.error_code) for j in (await session.scalars(select(Job))).all())
        assert codes == ["None", "None", "None", "queue_full", "rate_limited"]


async def test_hourly_limit_says_when_to_come_back(
    telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path
) -> None:
    settings = make_settings(telegram.url, await sqlite_url(tmp_path), models, tmp_path,
                             max_jobs_in_flight=10, max_jobs_per_hour=2)  # fmt: skip
    async for stack in run_stack(telegram, settings, models, with_worker=False):
        for _ in range(3):
            send_note(stack, USER, noisy_speech(2.0)[0])
            await asyncio.sleep(0.3)
        replies = await telegram.wait_for(lambda: len(telegram.sent("sendMessage", USER)) >= 3
                                          and telegram.sent("sendMessage", USER))  # fmt: skip
        assert "in the last hour" in replies[2].params["text"] and "Try again in 60 min" in replies[2].params["text"]


async def test_forget_deletes_everything_about_the_user(stack: Stack) -> None:
    fake = stack.telegram
    send_note(stack, USER, noisy_speech(3.0, snr_db=15.0)[0])
    await finished(stack, USER)
    fake.push_message(USER, text="/forget", entities=[{"type": "bot_command", "offset": 0, "length": 7}])
    reply = await fake.wait_for(lambda: [c for c in fake.sent("sendMessage", USER) if "deleted" in c.params["text"]])
    assert "deleted 1 notes" in reply[0].params["text"]
    async with stack.sessionmaker() as session:
        assert (await session.scalars(select(Job).where(Job.user_id == USER))).all() == []
        assert await session.get(User, USER) is None


async def test_retention_erases_old_results(stack: Stack) -> None:
    from worker.maintenance import purge_expired_results

    send_note(stack, USER, noisy_speech(3.0, snr_db=15.0)[0])
    await finished(stack, USER)
    async with stack.sessionmaker() as session:
        job = (await session.scalars(select(Job))).one()
        job.finished_at = utcnow() - dt.timedelta(days=stack.settings.retention_days + 1)
        await session.commit()
    if stack.worker is None:
        raise AssertionError("the stack has no worker")
    assert await purge_expired_results(stack.worker.ctx) == 1  # the worker's own cron job, on its own state
    async with stack.sessionmaker() as session:
        job = (await session.scalars(select(Job))).one()
    assert job.transcript is None and job.result_voice_file_id is None and job.status == JobStatus.done


async def test_a_note_past_its_time_limit_is_stopped_and_the_worker_moves_on(
    telegram: FakeTelegram, models: PipelineRunner, tmp_path: Path
) -> None:
    """With a time limit far under what a note takes, each note is stopped for real: its pipeline process is
    killed, the user is told it took too long, the record says so, and the next note starts at once."""
    import psutil

    tight = {"processing_time_base_s": 0.5, "processing_time_per_audio_s": 0.01}
    settings = make_settings(telegram.url, await sqlite_url(tmp_path), models, tmp_path, **tight)
    async for stack in run_stack(telegram, settings, models, with_worker=True):
        await models.load(settings.denoiser_version, settings.whisper_version)  # warm: the limit is on the note
        busy = models.pid
        noisy, _, _ = noisy_speech(8.0, snr_db=10.0)
        first = send_note(stack, USER, noisy)
        second = send_note(stack, USER, noisy[::-1].copy())

        def too_long() -> list[str]:
            return [c.params["text"] for c in telegram.sent("editMessageText", USER) if "too long" in c.params["text"]]

        await telegram.wait_for(lambda: len(too_long()) >= 2, timeout=120)
        jobs = [await job_for(stack, update) for update in (first, second)]
        assert [(job.status, job.error_code) for job in jobs] == [(JobStatus.failed, "timeout")] * 2
        assert "longer than 1 s" in (jobs[0].error or "")
        assert not psutil.pid_exists(busy) or psutil.Process(busy).status() == psutil.STATUS_ZOMBIE
        # the second note was taken as soon as the first was stopped, not after the first's work would have ended
        assert jobs[1].started_at is not None and jobs[0].finished_at is not None
        assert (jobs[1].started_at - jobs[0].finished_at).total_seconds() < 5
        assert not telegram.sent("sendVoice", USER)


async def test_notes_being_handled_when_a_polling_bot_stops_are_recorded_and_acknowledged(
    database_url: str, models: PipelineRunner, tmp_path: Path
) -> None:
    # Telegram forgets an update once getUpdates asks past it, which aiogram does while the last batch's handlers
    # still run; here they run for seconds (one user's six notes, acknowledged one a second beyond Telegram's burst,
    # one after another): a bot stopped meanwhile must finish them before closing its connections, or notes are lost
    telegram = FakeTelegram(TOKEN, limits=RateLimits())
    settings = make_settings(await telegram.start(), database_url, models, tmp_path)
    try:
        async for stack in run_stack(telegram, settings, models, with_worker=False):
            for index in range(6):
                send_note(stack, 9_000, data=bytes([index]) * 2_000)
            while telegram.pending:  # taken, and confirmed by the next getUpdates
                await asyncio.sleep(0.002)
        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                jobs = (await session.scalars(select(Job).where(Job.user_id == 9_000))).all()
        finally:
            await engine.dispose()
    finally:
        await telegram.stop()
    assert len(jobs) == 6 and all(job.status_message_id is not None for job in jobs)
    assert len([c for c in telegram.sent("sendMessage") if c.error is None]) == 6
