"""The API the page uses: ``POST /api/jobs`` (an upload) and ``GET /api/jobs/{id}`` (its state and results), and
the results' files. A job is reached only by its unguessable id; nothing lists them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from core.choices import STRENGTHS, TRANSCRIBE_LANGUAGES
from core.db.jobs import IN_PROGRESS, queue_position, update_job
from core.db.limits import web_jobs_since
from core.db.models import Job, JobStatus, utcnow
from core.db.web_jobs import create_web_job, get_web_job
from core.queue import enqueue_upload, queue_depth
from core.subtitles import mark, paragraphs, to_srt, to_vtt
from core.webfiles import PUBLIC_ID
from web.context import context
from web.language import VARY, language_of
from web.sniff import FORMAT_NAMES, FORMATS
from web.texts import ERRORS, FAILURES
from web.uploads import UploadRefused, receive


def error(lang: str, code: str, status: int, message: str | None = None, **values: object) -> web.Response:
    """``{"error": code, "message": ...}`` with this HTTP status; the message (``ERRORS``, by default the code's)
    in ``lang``, filled with ``values``."""
    text = ERRORS[message or code][lang].format(**values)
    return web.json_response({"error": code, "message": text}, status=status, headers=VARY)


def client_of(request: web.Request) -> str:
    """Who sent the request, for the hourly limit: a hash of the address, never the address itself."""
    return hashlib.sha256(f"voicebot-web:{request.remote}".encode()).hexdigest()[:32]


async def create(request: web.Request) -> web.Response:
    """``POST /api/jobs``: multipart ``file`` (+ ``strength``, ``language``) → 202 ``{"id", "status_url"}``."""
    ctx = context(request)
    settings = ctx.settings
    lang = language_of(request)
    client = client_of(request)
    since = utcnow() - dt.timedelta(hours=1)
    try:
        async with ctx.session() as session:
            recent, first = await web_jobs_since(session, client, since)
        depth = await queue_depth(ctx.queue)
    except (OperationalError, RedisError, OSError):
        return error(lang, "unavailable", 503)
    if recent >= settings.web_jobs_per_hour:
        wait = (first or since) + dt.timedelta(hours=1) - utcnow()
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        return _with_retry(error(lang, "rate_limited", 429, limit=settings.web_jobs_per_hour, minutes=minutes), minutes)
    if depth >= settings.max_queue_depth:
        return _with_retry(error(lang, "busy", 503), 5)
    public_id = secrets.token_urlsafe(24)
    folder = ctx.files.folder(public_id)
    try:
        upload = await receive(request, folder, int(settings.max_file_mb * 2**20))
    except UploadRefused as exc:
        limits = {"max_mb": settings.max_file_mb, "formats": FORMAT_NAMES}
        return error(lang, exc.code, exc.status, exc.message, **(exc.values | limits))
    strength = upload.fields.get("strength") or settings.denoiser_strength
    language = upload.fields.get("language", "auto").lower()
    if strength not in STRENGTHS or language not in TRANSCRIBE_LANGUAGES:
        ctx.files.remove(public_id)
        return error(lang, "bad_request", 400, "bad_fields", strengths=", ".join(STRENGTHS),
                     languages=", ".join(TRANSCRIBE_LANGUAGES))  # fmt: skip
    try:
        async with ctx.session() as session:
            job = await create_web_job(
                session, public_id=public_id, client=client, kind=upload.kind, file_size=upload.size,
                strength=strength, transcribe_language=None if language == "auto" else language,
            )  # fmt: skip
            try:
                await enqueue_upload(ctx.queue, job_id=job.id, public_id=public_id)
            except (RedisError, OSError) as exc:
                await update_job(session, job.id, status=JobStatus.failed, error_code="queue_unavailable",
                                 error=str(exc))  # fmt: skip
                ctx.files.remove(public_id)
                return error(lang, "unavailable", 503)
    except OperationalError:
        ctx.files.remove(public_id)
        return error(lang, "unavailable", 503)
    status_url = f"/api/jobs/{public_id}"
    return web.json_response({"id": public_id, "status_url": status_url}, status=202, headers={"Location": status_url})


def _with_retry(response: web.Response, minutes: int) -> web.Response:
    response.headers["Retry-After"] = str(minutes * 60)
    return response


async def _job(request: web.Request, *, done: bool = False) -> Job:
    """The job named in the URL, unless unknown, past retention or (``done``) not finished yet: then 404."""
    ctx = context(request)
    public_id = request.match_info["id"]
    if not PUBLIC_ID.match(public_id):
        raise _not_found(request)
    async with ctx.session() as session:
        job = await get_web_job(session, public_id)
    if job is None or _expired(job, ctx.settings.retention_days) or (done and job.status != JobStatus.done):
        raise _not_found(request)
    return job


def _not_found(request: web.Request) -> web.HTTPNotFound:
    message = ERRORS["not_found"][language_of(request)]
    return web.HTTPNotFound(text=json.dumps({"error": "not_found", "message": message}, ensure_ascii=False),
                            content_type="application/json", headers=VARY)  # fmt: skip


def _expired(job: Job, retention_days: float) -> bool:
    finished = job.finished_at
    if finished is None:
        return False
    finished = finished if finished.tzinfo else finished.replace(tzinfo=dt.UTC)
    return finished < utcnow() - dt.timedelta(days=retention_days)


def public_status(status: JobStatus) -> str:
    """What the API calls a job's status: queued, working, done or failed."""
    if status in IN_PROGRESS:
        return "working"
    return status.value


async def status(request: web.Request) -> web.Response:
    """``GET /api/jobs/{id}``: status, stage, queue position; when done the transcript and the results' URLs."""
    job = await _job(request)
    base = f"/api/jobs/{job.public_id}"
    body: dict[str, Any] = {"id": job.public_id, "status": public_status(job.status), "stage": job.stage,
                            "strength": job.strength}  # fmt: skip
    if job.status == JobStatus.queued:
        async with context(request).session() as session:
            body["position"] = await queue_position(session, job)
    elif job.status == JobStatus.done:
        body |= {
            "text": job.transcript or "",
            "language": job.language,
            "duration_s": job.duration_s,
            "segments": job.segments or [],
            "audio_url": f"{base}/cleaned.ogg",
            "original_url": f"{base}/original",
            "spectrogram_url": f"{base}/spectrogram.png",
            "txt_url": f"{base}/transcript.txt",
            "srt_url": f"{base}/subtitles.srt",
            "vtt_url": f"{base}/subtitles.vtt",
        }
    elif job.status == JobStatus.failed:
        code = job.error_code if job.error_code in FAILURES else "internal"
        body |= {"error": code, "reason": FAILURES[code][language_of(request)]}
    return web.json_response(body, headers={"Cache-Control": "no-store"} | VARY)


async def original(request: web.Request) -> web.StreamResponse:
    job = await _job(request)
    path = context(request).files.original(job.public_id or "", job.kind)
    if not path.is_file():
        raise _not_found(request)
    known = FORMATS.get(job.kind)
    return web.FileResponse(path, headers={"Content-Type": known.content_type if known else "application/octet-stream"})


async def cleaned(request: web.Request) -> web.StreamResponse:
    job = await _job(request, done=True)
    return _file(request, context(request).files.cleaned(job.public_id or ""), "audio/ogg", "cleaned.ogg")


async def spectrogram(request: web.Request) -> web.StreamResponse:
    job = await _job(request, done=True)
    return _file(request, context(request).files.spectrogram(job.public_id or ""), "image/png", None)


def _file(request: web.Request, path: Path, content_type: str, download_as: str | None) -> web.StreamResponse:
    if not path.is_file():
        raise _not_found(request)
    headers = {"Content-Type": content_type}
    if download_as:
        headers["Content-Disposition"] = f'inline; filename="{download_as}"'
    return web.FileResponse(path, headers=headers)


def _attachment(text: str, content_type: str, name: str) -> web.Response:
    return web.Response(
        text=text, content_type=content_type, charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


async def transcript_txt(request: web.Request) -> web.Response:
    job = await _job(request, done=True)
    text = "\n\n".join(f"{mark(start)} {body}" for start, body in paragraphs(job.segments or []))
    return _attachment((text or job.transcript or "") + "\n", "text/plain", "transcript.txt")


async def subtitles_srt(request: web.Request) -> web.Response:
    job = await _job(request, done=True)
    return _attachment(to_srt(job.segments or []), "application/x-subrip", "subtitles.srt")


async def subtitles_vtt(request: web.Request) -> web.Response:
    job = await _job(request, done=True)
    return _attachment(to_vtt(job.segments or []), "text/vtt", "subtitles.vtt")


def add_routes(app: web.Application) -> None:
    """The API's routes on ``app``."""
    app.router.add_post("/api/jobs", create)
    app.router.add_get("/api/jobs/{id}", status)
    app.router.add_get("/api/jobs/{id}/original", original)
    app.router.add_get("/api/jobs/{id}/cleaned.ogg", cleaned)
    app.router.add_get("/api/jobs/{id}/spectrogram.png", spectrogram)
    app.router.add_get("/api/jobs/{id}/transcript.txt", transcript_txt)
    app.router.add_get("/api/jobs/{id}/subtitles.srt", subtitles_srt)
    app.router.add_get("/api/jobs/{id}/subtitles.vtt", subtitles_vtt)
