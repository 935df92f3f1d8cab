"""``/admin`` (only when WEB_ADMIN_TOKEN is set): sign in with the token; see and switch the active model versions
(the same repository calls and audit log as the chat's /denoiser and /whisper) and today's /stats figures.

The session is a signed cookie (``HttpOnly``, ``SameSite=Strict``): its issue time and a random nonce, signed with
the admin token, so a new token ends every session. Each form carries a token derived from the session (CSRF)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time

from aiohttp import web

from core.catalog import FAMILIES
from core.db.admin import audit, get_active_models, job_stats, set_active_model
from core.fleet import describe, workers_loaded, workers_unable
from core.queue import queue_depth
from web.context import WebContext, context
from web.language import VARY, language_of, remember_language
from web.pages import admin_html, login_html
from web.texts import ADMIN

COOKIE = "voicebot_admin"
SESSION_S = 12 * 3600
WEB_ADMIN_ID = 0  # the audit log's admin id for the web page's admin (Telegram ids are positive)


def _key(ctx: WebContext) -> bytes:
    token = ctx.settings.web_admin_token
    if token is None:
        raise web.HTTPNotFound()
    return token.get_secret_value().encode()


def _sign(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _session(request: web.Request) -> str | None:
    """The signed-in session's nonce, or None."""
    cookie = request.cookies.get(COOKIE, "")
    issued, _, rest = cookie.partition(".")
    nonce, _, signature = rest.partition(".")
    if not (issued.isdigit() and nonce and signature):
        return None
    if not secrets.compare_digest(signature, _sign(_key(context(request)), "session", f"{issued}.{nonce}")):
        return None
    if time.time() - int(issued) > SESSION_S:
        return None
    return nonce


def _csrf(request: web.Request, nonce: str) -> str:
    return _sign(_key(context(request)), "csrf", nonce)


async def _form_session(request: web.Request) -> tuple[str, dict[str, str]]:
    """A POST's session nonce and its form fields; 403 without a session or with a wrong CSRF token."""
    nonce = _session(request)
    form = {key: str(value) for key, value in (await request.post()).items()}
    if nonce is None or not secrets.compare_digest(form.get("csrf", ""), _csrf(request, nonce)):
        lang = language_of(request)
        raise web.HTTPForbidden(text=login_html(lang, ADMIN["bad_form"][lang]), content_type="text/html")
    return nonce, form


async def page(request: web.Request) -> web.Response:
    """``GET /admin``: the dashboard, or the login form."""
    _key(context(request))
    nonce = _session(request)
    response = _html(login_html(language_of(request)) if nonce is None else await _dashboard(request, nonce))
    remember_language(request, response)
    return response


async def login(request: web.Request) -> web.Response:
    """``POST /admin/login``: a right token sets the session cookie; a wrong one is refused and audited."""
    ctx = context(request)
    key = _key(ctx)
    token = str((await request.post()).get("token", ""))
    if not secrets.compare_digest(token.encode(), key):
        async with ctx.session() as session:
            await audit(session, WEB_ADMIN_ID, "web_login", "wrong token", allowed=False)
        lang = language_of(request)
        return _html(login_html(lang, ADMIN["wrong_token"][lang]), status=403)
    issued, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    response = web.HTTPSeeOther("/admin")
    response.set_cookie(
        COOKIE, f"{issued}.{nonce}.{_sign(key, 'session', f'{issued}.{nonce}')}", max_age=SESSION_S, path="/admin",
        httponly=True, samesite="Strict", secure=request.secure,
    )  # fmt: skip
    raise response


async def logout(request: web.Request) -> web.Response:
    """``POST /admin/logout``: the cookie is dropped."""
    await _form_session(request)
    response = web.HTTPSeeOther("/admin")
    response.del_cookie(COOKIE, path="/admin")
    raise response


async def switch_model(request: web.Request) -> web.Response:
    """``POST /admin/models`` (``family``, ``version``, ``csrf``): switch a family's active version, audited; a
    version the catalog does not know is refused (and audited as refused), as in the chat."""
    ctx = context(request)
    nonce, form = await _form_session(request)
    lang = language_of(request)
    family, version = form.get("family", ""), form.get("version", "").strip()
    if family not in FAMILIES:
        raise web.HTTPBadRequest(text=ADMIN["unknown_family"][lang])
    async with ctx.session() as session:
        if version not in ctx.catalog.names(family):
            await audit(session, WEB_ADMIN_ID, f"set_{family}", version, allowed=False)
            message, status = ADMIN["unknown_version"][lang].format(family=family, version=version), 400
        elif unable := await workers_unable(ctx.queue, family, version):  # the workers would fail every note with it
            await audit(session, WEB_ADMIN_ID, f"set_{family}", version, allowed=False)
            text = ADMIN["unrunnable"][lang]
            message, status = text.format(family=family, version=version, workers=describe(unable)), 409
        else:
            await set_active_model(session, family, version, WEB_ADMIN_ID)
            message, status = ADMIN["switched"][lang].format(family=family, version=version), 200
    return _html(await _dashboard(request, nonce, message), status=status)


async def _dashboard(request: web.Request, nonce: str, message: str = "") -> str:
    ctx = context(request)
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with ctx.session() as session:
        active = await get_active_models(session, ctx.settings.default_models)
        numbers = await job_stats(session, midnight)
    loaded = await workers_loaded(ctx.queue)

    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} s"

    stats = {
        "jobs": str(numbers.jobs),
        "done": str(numbers.done),
        "failed": str(numbers.failed),
        "in_progress": str(numbers.in_progress),
        "success_rate": "—" if numbers.success_rate is None else f"{numbers.success_rate:.0%}",
        "p50": seconds(numbers.p50_s),
        "p95": seconds(numbers.p95_s),
        "queue_depth": str(await queue_depth(ctx.queue)),
    }
    return admin_html(
        lang=language_of(request),
        csrf=_csrf(request, nonce),
        active=active,
        available={family: ctx.catalog.names(family) for family in FAMILIES},
        loaded=loaded,
        stats=stats,
        message=message,
    )


def _html(text: str, status: int = 200) -> web.Response:
    headers = {"Cache-Control": "no-store"} | VARY
    return web.Response(text=text, content_type="text/html", status=status, headers=headers)


def add_routes(app: web.Application) -> None:
    """The admin routes on ``app`` (the caller adds them only when WEB_ADMIN_TOKEN is set)."""
    app.router.add_get("/admin", page)
    app.router.add_post("/admin/login", login)
    app.router.add_post("/admin/logout", logout)
    app.router.add_post("/admin/models", switch_model)
