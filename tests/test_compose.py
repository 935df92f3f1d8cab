"""The compose stack as the README runs it (Docker Engine, Compose v2, ``docker/compose.yaml``), with only what this
machine lacks overridden (``testkit/compose.test.yaml``: the fake Bot API server as a service on the stack's
network, the builds' CA): redis, postgres, migrate, bot, web and two workers. A note through Telegram and an upload
to the web page are answered; a worker killed mid-job does not cost the note, nor answer it twice; ``down`` and
``up`` keep the jobs, the users' settings and the results; every service is healthy."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ml.audio import encode_voice
from ml.wer import wer
from testkit.compose import Compose, docker, engine
from testkit.fake_telegram_service import of
from testkit.settings import ADMIN_ID, TOKEN
from testkit.speech import noisy_speech
from testkit.stack import free_port

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(3600)]

ALICE, BOB = 101, 102  # Alice's note and settings survive a restart; Bob's note loses its worker


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    """The README's commands: build, then ``up -d --wait --scale worker=2``; ``down -v`` at the end."""
    engine()
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text(
        f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_API_URL=http://telegram:8081\nADMIN_IDS={ADMIN_ID}\n"
        f"POSTGRES_PASSWORD={secrets.token_hex(12)}\n"
    )
    compose = Compose(env_file, web_port=free_port(), telegram_port=free_port())
    try:
        compose("build", timeout=2400)
        compose("up", "-d", "--wait", "--scale", "worker=2", timeout=600)
        yield compose
    finally:
        logs = compose("logs", "--no-color", check=False).stdout
        print(logs[-20_000:])
        compose("down", "-v", "--remove-orphans", check=False)
        assert TOKEN not in logs, "the bot token reached the logs"


def healthy(compose: Compose, workers: int = 2) -> None:
    """Every long-running service runs and passes its health check; the migrations ran to the end."""
    containers = compose.containers()
    by_service: dict[str, list[dict[str, Any]]] = {}
    for container in containers:
        by_service.setdefault(container["Service"], []).append(container)
    assert set(by_service) == {"redis", "postgres", "migrate", "bot", "web", "worker", "telegram"}, by_service
    assert [(c["State"], c["ExitCode"]) for c in by_service["migrate"]] == [("exited", 0)]
    assert len(by_service["worker"]) == workers
    for name in ("redis", "postgres", "web", "worker", "telegram"):
        for container in by_service[name]:
            assert (container["State"], container["Health"]) == ("running", "healthy"), container
    assert [c["State"] for c in by_service["bot"]] == ["running"]


async def send_note(compose: Compose, user: int, seconds: float) -> tuple[dict[str, Any], str]:
    """``user`` sends a noisy note of ``seconds``; returns the update and what was said."""
    noisy, reference, _ = noisy_speech(seconds, snr_db=10.0)
    update = await compose.telegram().push_voice(user, encode_voice(noisy), round(seconds))
    return update, reference


async def answered(compose: Compose, user: int, count: int = 1, timeout: float = 300) -> list[dict[str, Any]]:
    """Wait until ``count`` voices have been sent to ``user``; returns them."""

    def enough(calls: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        sent = of(calls, "sendVoice", user)
        return sent if len(sent) >= count else None

    return list(await compose.telegram().wait_for(enough, timeout=timeout))


def test_every_service_comes_up_healthy(stack: Compose) -> None:
    healthy(stack)


async def test_a_voice_note_is_answered_with_voice_and_text(stack: Compose) -> None:
    _, reference = await send_note(stack, ALICE, 8.0)
    voices = await answered(stack, ALICE)
    assert voices[0]["files"]["voice"] > 1000
    assert wer(reference, voices[0]["params"]["caption"]) < 0.4


async def test_a_web_upload_is_answered(stack: Compose) -> None:
    noisy, reference, _ = noisy_speech(6.0, snr_db=10.0)
    form = aiohttp.FormData()
    form.add_field("strength", "strong")
    form.add_field("file", encode_voice(noisy), filename="note.ogg", content_type="audio/ogg")
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.web_url + "/api/jobs", data=form) as response:
            assert response.status == 202, await response.text()
            job = await response.json()
        for _ in range(600):
            async with http.get(stack.web_url + job["status_url"]) as response:
                status = await response.json()
            if status["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.5)
        assert status["status"] == "done", status
        assert wer(reference, status["text"]) < 0.4
        async with http.get(f"{stack.web_url}/api/jobs/{job['id']}/cleaned.ogg") as response:
            assert response.status == 200 and len(await response.read()) > 1000
    (Path(stack.env_file).parent / "web-job").write_text(job["id"])


async def test_a_worker_killed_mid_job_costs_nothing_and_answers_once(stack: Compose) -> None:
    update, reference = await send_note(stack, BOB, 60.0)
    message_id = update["message"]["message_id"]
    holder = None
    for _ in range(1200):  # the worker that holds the job, once it has started on it
        rows = stack.sql(f"select worker from jobs where chat_id = {BOB} and message_id = {message_id} "
                         "and worker is not null and status not in ('queued', 'done', 'failed')")  # fmt: skip
        if rows:
            holder = rows[0][0].split(":")[0]  # <hostname>:<pid>; a container's hostname is its short id
            break
        await asyncio.sleep(0.1)
    assert holder is not None, "no worker took the note"
    killed = docker("kill", "--signal", "KILL", holder)
    assert killed.returncode == 0, killed.stderr
    voices = await answered(stack, BOB, timeout=600)
    assert wer(reference, voices[0]["params"]["caption"]) < 0.4
    await asyncio.sleep(15)  # a second answer would come now, from the job's queue entry or its rescue
    assert len(of(await stack.telegram().calls(), "sendVoice", BOB)) == 1
    [(status, attempts)] = stack.sql(f"select status, attempts from jobs where chat_id = {BOB}")
    assert status == "done" and int(attempts) >= 2  # taken again after its worker died


async def test_down_and_up_keep_jobs_settings_and_results(stack: Compose) -> None:
    telegram = stack.telegram()
    await telegram.push_command(ALICE, "settings")
    menus = await telegram.wait_for(
        lambda calls: [c for c in of(calls, "sendMessage", ALICE) if "reply_markup" in c["params"]]
    )
    menu = menus[-1]
    button = next(b for row in menu["params"]["reply_markup"]["inline_keyboard"] for b in row if "Noise" in b["text"])
    await telegram.push_callback(ALICE, 1, button["callback_data"])
    await telegram.wait_for(lambda calls: of(calls, "editMessageText", ALICE)[-1:] and
                            stack.sql(f"select strength from users where id = {ALICE}") == [["gentle"]])  # fmt: skip
    jobs_before = stack.sql("select id, status, transcript from jobs order by id")
    web_job = (Path(stack.env_file).parent / "web-job").read_text()

    stack("down", timeout=300)
    stack("up", "-d", "--wait", "--scale", "worker=2", timeout=600)
    healthy(stack)

    assert stack.sql("select id, status, transcript from jobs order by id") == jobs_before
    assert stack.sql(f"select strength from users where id = {ALICE}") == [["gentle"]]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.web_url}/api/jobs/{web_job}") as response:
            assert response.status == 200 and (await response.json())["status"] == "done"
        async with http.get(f"{stack.web_url}/api/jobs/{web_job}/cleaned.ogg") as response:
            assert response.status == 200 and len(await response.read()) > 1000
    update, reference = await send_note(stack, ALICE, 5.0)  # the kept setting applies to the next note
    voices = await answered(stack, ALICE)
    assert wer(reference, voices[0]["params"]["caption"]) < 0.4
    message_id = update["message"]["message_id"]
    assert stack.sql(f"select strength from jobs where message_id = {message_id}") == [["gentle"]]
