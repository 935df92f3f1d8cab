"""The API through real HTTP: an upload cleaned and transcribed by the real worker, and every error code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path

import aiohttp
from sqlalchemy import select

from core.db.jobs import get_job, purge_expired, update_job
from core.db.models import Job, JobStatus, utcnow
from core.db.web_jobs import create_web_job
from ml.audio import decode_audio, encode_voice
from ml.wer import wer
from testkit.speech import noisy_speech
from testkit.web_stack import WebStack, run_web_stack, web_settings
from worker.maintenance import rescue_stalled


def _form(data: bytes, filename: str = "note.ogg", **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type="audio/ogg")
    return form


async def _post(stack: WebStack, form: aiohttp.FormData) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
    async with stack.http.post(stack.url + "/api/jobs", data=form) as response:
        return response.status, await response.json(), response.headers


async def _get(stack: WebStack, path: str) -> tuple[int, bytes, str]:
    async with stack.http.get(stack.url + path) as response:
        return response.status, await response.read(), response.headers.get("Content-Type", "")


async def test_an_upload_comes_back_cleaned_and_transcribed(web_stack: WebStack) -> None:
    noisy, reference, _ = noisy_speech(8.0, snr_db=10.0)
    upload = encode_voice(noisy)
    status, body, headers = await _post(web_stack, _form(upload, strength="gentle", language="en"))
    assert status == 202, body
    assert body["status_url"] == f"/api/jobs/{body['id']}" == headers["Location"]
    assert len(body["id"]) >= 32  # secrets.token_urlsafe(24)

    job = await web_stack.wait_finished(body["status_url"])
    assert job["status"] == "done", job
    assert wer(reference, job["text"]) < 0.5
    assert job["language"] == "en" and job["strength"] == "gentle"
    assert job["segments"] and all(s["end"] > s["start"] >= 0 and s["text"] for s in job["segments"])

    status, cleaned, kind = await _get(web_stack, job["audio_url"])
    assert status == 200 and kind == "audio/ogg" and cleaned.startswith(b"OggS")
    assert abs(decode_audio(cleaned).size - noisy.size) < 16_000 * 0.1
    assert await _get(web_stack, job["original_url"]) == (200, upload, "audio/ogg")
    status, srt, _ = await _get(web_stack, job["srt_url"])
    assert status == 200 and srt.startswith(b"1\n00:00:0") and b" --> " in srt
    status, txt, _ = await _get(web_stack, job["txt_url"])
    assert status == 200 and txt.startswith(b"[00:0")
    status, vtt, _ = await _get(web_stack, job["vtt_url"])
    assert status == 200 and vtt.startswith(b"WEBVTT")
    status, png, kind = await _get(web_stack, job["spectrogram_url"])
    assert status == 200 and kind == "image/png" and png.startswith(b"\x89PNG")

    async with web_stack.sessionmaker() as session:
        row = await session.scalar(select(Job).where(Job.public_id == body["id"]))
    assert row is not None and row.source == "web" and row.user_id is None and row.chat_id is None
    assert row.client and "127.0.0.1" not in row.client  # a hash, not the address


async def test_audio_that_does_not_decode_fails_with_a_reason(web_stack: WebStack) -> None:
    status, body, _ = await _post(web_stack, _form(b"OggS" + bytes(range(256)) * 40))
    assert status == 202
    job = await web_stack.wait_finished(body["status_url"])
    assert job["status"] == "failed" and job["error"] == "unsupported_audio", job
    assert "not audio" in job["reason"]
    assert (await _get(web_stack, f"{body['status_url']}/cleaned.ogg"))[0] == 404


async def test_what_is_not_audio_is_refused_with_415(web_only: WebStack) -> None:
    status, body, _ = await _post(web_only, _form(b"just some text, not a recording\n" * 10, filename="note.txt"))
    assert status == 415 and body["error"] == "not_audio"
    assert not any(web_only.files.root.iterdir())  # nothing kept of it


async def test_a_file_over_the_limit_is_refused_by_its_declared_length(web_only: WebStack) -> None:
    big = b"OggS" + bytes(2 * 2**20)  # MAX_FILE_MB is 1 here
    status, body, _ = await _post(web_only, _form(big))
    assert status == 413 and body["error"] == "too_big"


async def test_a_file_over_the_limit_is_refused_while_it_streams(web_only: WebStack) -> None:
    """Chunked upload, no length declared: the server answers 413 once 1 MB has streamed in, although the body
    never ends (the client sends a little over the limit, then waits)."""
    host, port = web_only.settings.web_host, web_only.settings.web_port
    reader, writer = await asyncio.open_connection(host, port)
    boundary = "XyZboundary"
    writer.write(
        (f"POST /api/jobs HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
         f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
    )  # fmt: skip

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    writer.write(chunk(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.ogg"\r\n'
                       "Content-Type: audio/ogg\r\n\r\n".encode() + b"OggS"))  # fmt: skip
    for _ in range(17):  # 17 × 64 KiB: just past 1 MiB
        writer.write(chunk(bytes(64 * 1024)))
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    assert head.startswith(b"HTTP/1.1 413"), head
    writer.close()
    assert not any(web_only.files.root.iterdir())  # the partial upload is gone


async def test_a_client_over_its_hourly_limit_gets_429(web_only: WebStack) -> None:
    note = encode_voice(noisy_speech(2.0)[0])
    for _ in range(3):  # WEB_JOBS_PER_HOUR is 3 here
        status, body, _ = await _post(web_only, _form(note))
        assert status == 202, body
        assert (await web_only.http.get(web_only.url + body["status_url"])).status == 200
    status, body, headers = await _post(web_only, _form(note))
    assert status == 429 and body["error"] == "rate_limited"
    assert 0 < int(headers["Retry-After"]) <= 3600


async def test_a_queued_job_shows_its_position_and_no_results(web_only: WebStack) -> None:
    note = encode_voice(noisy_speech(2.0)[0])
    ids = []
    for _ in range(2):
        _, body, _ = await _post(web_only, _form(note))
        ids.append(body["id"])
    status, data, _ = await _get(web_only, f"/api/jobs/{ids[1]}")
    job = json.loads(data)
    assert status == 200 and job["status"] == "queued" and job["position"] == 2 and "text" not in job
    assert (await _get(web_only, f"/api/jobs/{ids[1]}/cleaned.ogg"))[0] == 404
    assert (await _get(web_only, f"/api/jobs/{ids[1]}/subtitles.srt"))[0] == 404


async def test_unknown_ids_get_404_and_nothing_is_listed(web_only: WebStack) -> None:
    for path in ("/api/jobs/" + "A" * 32, "/api/jobs/../../etc/passwd", "/api/jobs/short", "/api/jobs/" + "A" * 32
                 + "/cleaned.ogg", "/api/jobs/" + "A" * 32 + "/original"):  # fmt: skip
        status, body, _ = await _get(web_only, path)
        assert status == 404, path
    status, body, _ = await _get(web_only, "/api/jobs/" + "A" * 32)
    assert json.loads(body)["error"] == "not_found"
    assert (await _get(web_only, "/api/jobs"))[0] in (404, 405)
    assert (await _get(web_only, "/static/"))[0] in (403, 404)


async def test_bad_fields_are_refused_and_nothing_kept(web_only: WebStack) -> None:
    note = encode_voice(noisy_speech(2.0)[0])
    status, body, _ = await _post(web_only, _form(note, strength="max"))
    assert status == 400 and body["error"] == "bad_request"
    status, body, _ = await _post(web_only, _form(note, language="english; drop table"))
    assert status == 400
    status, body, _ = await _post(web_only, _form(note, language="x" * 5000))
    assert status == 400 and "too long" in body["message"]
    async with web_only.http.post(web_only.url + "/api/jobs", data={"strength": "gentle"}) as response:
        assert response.status == 400 and (await response.json())["error"] == "no_file"
    assert not any(web_only.files.root.iterdir())


async def test_the_page_is_served_with_its_protections(web_only: WebStack) -> None:
    async with web_only.http.get(web_only.url + "/") as response:
        page = await response.text()
        assert response.status == 200
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert 'id="texts"' in page and "/static/app.js" in page and "up to 1 MB" in page
    assert (await _get(web_only, "/static/app.js"))[0] == 200


async def test_a_job_past_retention_is_gone(web_only: WebStack) -> None:
    """The API answers 404 once a job is past RETENTION_DAYS; the workers' retention erases its record's text and
    segments and its folder."""
    note = encode_voice(noisy_speech(2.0)[0])
    _, body, _ = await _post(web_only, _form(note))
    long_ago = utcnow() - dt.timedelta(days=web_only.settings.retention_days + 1)
    async with web_only.sessionmaker() as session:
        job = await session.scalar(select(Job).where(Job.public_id == body["id"]))
        assert job is not None
        await update_job(session, job.id, status=JobStatus.done, transcript="secret words", finished_at=long_ago,
                         segments=[{"start": 0.0, "end": 1.0, "text": "secret words"}])  # fmt: skip
        assert (await _get(web_only, body["status_url"]))[0] == 404
        assert await purge_expired(session, utcnow() - dt.timedelta(days=web_only.settings.retention_days)) == 1
        job = await get_job(session, job.id)
        assert job is not None and job.transcript is None and job.segments is None
    folder = web_only.files.folder(body["id"])
    assert folder.is_dir()
    os.utime(folder, (long_ago.timestamp(), long_ago.timestamp()))
    assert web_only.files.purge_older_than(utcnow() - dt.timedelta(days=1)) == 1 and not folder.exists()


async def test_a_full_queue_refuses_uploads_with_503(sqlite_url: str, tmp_path: Path) -> None:
    note = encode_voice(noisy_speech(2.0)[0])
    async for stack in run_web_stack(web_settings(sqlite_url, tmp_path, max_queue_depth=1), None):
        assert (await _post(stack, _form(note)))[0] == 202
        status, body, headers = await _post(stack, _form(note))
        assert status == 503 and body["error"] == "busy" and int(headers["Retry-After"]) > 0


async def test_a_web_job_lost_from_the_queue_is_queued_again(web_stack: WebStack) -> None:
    """A web job recorded but missing from Redis (lost with it) is found by the workers' rescue and processed."""
    assert web_stack.worker is not None
    public_id = "lost-job-" + "x" * 24
    folder = web_stack.files.folder(public_id)
    folder.mkdir(parents=True)
    web_stack.files.original(public_id, "ogg").write_bytes(encode_voice(noisy_speech(4.0, snr_db=15.0)[0]))
    async with web_stack.sessionmaker() as session:
        await create_web_job(session, public_id=public_id, client="c", kind="ogg", strength="strong",
                             created_at=utcnow() - dt.timedelta(minutes=5))  # fmt: skip
    await rescue_stalled(web_stack.worker.ctx)  # also runs on its own at :05, :25 and :45 of every minute
    result = await web_stack.wait_finished(f"/api/jobs/{public_id}")
    assert result["status"] == "done" and result["text"], result
