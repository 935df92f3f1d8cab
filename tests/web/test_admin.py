"""/admin over real HTTP: login with the token, the session cookie's flags, CSRF, an audited model switch."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import aiohttp
from sqlalchemy import select

from core.db.admin import get_active_models
from core.db.models import AuditLog
from testkit import no_torch
from testkit.stack import spawn_worker
from testkit.web_stack import ADMIN_TOKEN, WebStack, run_web_stack, web_settings


async def _login(stack: WebStack, token: str) -> aiohttp.ClientResponse:
    return await stack.http.post(stack.url + "/admin/login", data={"token": token}, allow_redirects=False)


async def _csrf(stack: WebStack) -> str:
    async with stack.http.get(stack.url + "/admin") as response:
        page = await response.text()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def _audit(stack: WebStack) -> list[tuple[int, str, str, bool]]:
    async with stack.sessionmaker() as session:
        rows = (await session.scalars(select(AuditLog).order_by(AuditLog.id))).all()
    return [(r.admin_id, r.action, r.detail, r.allowed) for r in rows]


async def test_a_wrong_token_is_refused_and_audited(web_only: WebStack) -> None:
    async with web_only.http.get(web_only.url + "/admin") as response:
        assert response.status == 200 and 'name="token"' in await response.text()
    response = await _login(web_only, "not-the-token")
    assert response.status == 403 and "Wrong token" in await response.text()
    assert "Set-Cookie" not in response.headers
    assert await _audit(web_only) == [(0, "web_login", "wrong token", False)]
    async with web_only.http.get(web_only.url + "/admin") as response:
        assert 'name="csrf"' not in await response.text()  # still signed out


async def test_login_sets_a_strict_http_only_cookie(web_only: WebStack) -> None:
    response = await _login(web_only, ADMIN_TOKEN)
    assert response.status == 303 and response.headers["Location"] == "/admin"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert ADMIN_TOKEN not in cookie
    async with web_only.http.get(web_only.url + "/admin") as page:
        text = await page.text()
    assert 'id="stats"' in text and 'id="active-whisper"' in text and "queue depth" in text
    logout = {"csrf": await _csrf(web_only)}
    async with web_only.http.post(web_only.url + "/admin/logout", data=logout, allow_redirects=False) as response:
        assert response.status == 303
    async with web_only.http.get(web_only.url + "/admin") as page:
        assert 'name="token"' in await page.text()  # signed out


async def test_a_switch_needs_the_csrf_token_and_is_audited(web_only: WebStack) -> None:
    await _login(web_only, ADMIN_TOKEN)
    csrf = await _csrf(web_only)
    url = web_only.url + "/admin/models"
    for forged in ({}, {"csrf": "0" * 64}):  # no token, a wrong one
        async with web_only.http.post(url, data={"family": "whisper", "version": "tiny.en", **forged}) as response:
            assert response.status == 403
    async with web_only.http.post(url, data={"family": "whisper", "version": "no-such-model", "csrf": csrf}) as r:
        assert r.status == 400 and "Unknown whisper version" in await r.text()
    async with web_only.http.post(url, data={"family": "whisper", "version": "tiny.en", "csrf": csrf}) as response:
        assert response.status == 200
        assert '<strong id="active-whisper">tiny.en</strong>' in await response.text()
    async with web_only.sessionmaker() as session:
        assert (await get_active_models(session, web_only.settings.default_models))["whisper"] == "tiny.en"
    assert await _audit(web_only) == [(0, "set_whisper", "no-such-model", False), (0, "set_whisper", "tiny.en", True)]


async def test_a_forged_or_foreign_cookie_is_not_a_session(web_only: WebStack) -> None:
    web_only.http.cookie_jar.update_cookies({"voicebot_admin": "1.abc.def"})
    async with web_only.http.get(web_only.url + "/admin") as response:
        assert 'name="token"' in await response.text()
    async with web_only.http.post(web_only.url + "/admin/models", data={"family": "whisper", "version": "base"}) as r:
        assert r.status == 403


async def test_no_admin_page_without_a_token(sqlite_url: str, tmp_path: Path) -> None:
    async for stack in run_web_stack(web_settings(sqlite_url, tmp_path), None):
        for method, path in (("GET", "/admin"), ("POST", "/admin/login")):
            async with stack.http.request(method, stack.url + path, data={"token": ""}) as response:
                assert response.status == 404


async def test_a_version_a_worker_cannot_run_is_refused_with_its_reason(web_only: WebStack) -> None:
    """A worker as in the image without torch says so; the page refuses Demucs (409), naming it and why."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_", "REDIS_"))}
    env = no_torch.env(base) | {"DATABASE_URL": web_only.settings.database_url,
                                "REDIS_URL": web_only.settings.redis_url or "",
                                "WEB_DATA_DIR": str(web_only.settings.web_data_dir)}  # fmt: skip
    worker = await spawn_worker(env, web_only.arq)
    try:
        await _login(web_only, ADMIN_TOKEN)
        form = {"family": "denoiser", "version": "demucs-dns48", "csrf": await _csrf(web_only)}
        async with web_only.http.post(web_only.url + "/admin/models", data=form) as response:
            page = await response.text()
        assert response.status == 409 and "cannot run on every worker" in page and "TORCH=1" in page
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 60)
    async with web_only.sessionmaker() as session:
        assert (await get_active_models(session, web_only.settings.default_models))["denoiser"] != "demucs-dns48"
    assert await _audit(web_only) == [(0, "set_denoiser", "demucs-dns48", False)]
