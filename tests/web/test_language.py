"""The page, its API and the admin page in the visitor's language, through real HTTP: the switch (``?lang=``,
remembered in a cookie), else ``Accept-Language``, else English; the page's choices come from the one list."""

from __future__ import annotations

import re

import aiohttp
import pytest

from core.choices import STRENGTHS, TRANSCRIBE_LANGUAGES
from ml.audio import encode_voice
from testkit.speech import noisy_speech
from testkit.web_stack import WebStack
from web.language import COOKIE, from_accept_language

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}


async def _page(stack: WebStack, path: str = "/", headers: dict[str, str] | None = None) -> tuple[str, dict]:
    async with stack.http.get(stack.url + path, headers=headers or {}) as response:
        assert response.status == 200
        return await response.text(), dict(response.headers)


def _lang(page: str) -> str:
    found = re.search(r'<html lang="(\w+)">', page)
    assert found, page[:200]
    return found.group(1)


async def test_accept_language_gets_the_russian_page(web_only: WebStack) -> None:
    page, headers = await _page(web_only, headers=RU)
    assert _lang(page) == "ru" and headers["Content-Language"] == "ru"
    assert "Accept-Language" in headers["Vary"] and "Cookie" in headers["Vary"]
    assert "<h1>Очистить и расшифровать голосовое</h1>" in page and "до 1 МБ" in page
    assert '"uploading": "Загружаю…"' in page  # the script's texts too
    assert '<strong lang="ru" title="Русский" aria-current="true">RU</strong>' in page
    assert '<a href="/?lang=en" hreflang="en"' in page
    assert "Set-Cookie" not in headers  # only the switch is remembered
    page, headers = await _page(web_only, headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert _lang(page) == "en" and "<h1>Clean and transcribe a voice note</h1>" in page  # we speak no German


async def test_the_switch_is_remembered_over_accept_language(web_only: WebStack) -> None:
    page, headers = await _page(web_only, "/?lang=ru", {"Accept-Language": "en"})
    assert _lang(page) == "ru"
    cookie = headers["Set-Cookie"]
    assert f"{COOKIE}=ru" in cookie and "Path=/" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    page, _ = await _page(web_only, "/", {"Accept-Language": "en"})  # the cookie wins over the browser
    assert _lang(page) == "ru"
    page, _ = await _page(web_only, "/?lang=en", RU)
    assert _lang(page) == "en"
    page, _ = await _page(web_only, "/", RU)
    assert _lang(page) == "en"
    page, _ = await _page(web_only, "/?lang=xx", RU)  # not a language we speak: ignored
    assert _lang(page) == "en"


async def test_the_pages_choices_are_the_one_lists(web_only: WebStack) -> None:
    for headers in ({}, RU):
        page, _ = await _page(web_only, headers=headers)
        for name, values in (("strength", STRENGTHS), ("language", TRANSCRIBE_LANGUAGES)):
            select = re.search(rf'<select name="{name}" id="{name}">(.*?)</select>', page, re.S)
            assert select, page
            assert tuple(re.findall(r'<option value="(\w+)"', select.group(1))) == values
    assert '<option value="strong" selected>сильное</option>' in page  # DENOISER_STRENGTH is the one chosen
    assert '<option value="ja">японский</option>' in page


async def test_api_errors_come_in_the_requests_language(web_only: WebStack) -> None:
    note = encode_voice(noisy_speech(2.0)[0])

    async def post(headers: dict[str, str], **fields: str) -> dict:
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        form.add_field("file", note, filename="note.ogg", content_type="audio/ogg")
        async with web_only.http.post(web_only.url + "/api/jobs", data=form, headers=headers) as response:
            assert response.status == 400 and response.headers["Vary"] == "Accept-Language, Cookie"
            return await response.json()

    english = await post({}, strength="max")
    assert english == {"error": "bad_request", "message": "Bad request: strength is one of strong, gentle, off; "
                       "language is one of auto, en, ru, uk, de, fr, es, it, pt, tr, pl, zh, ja."}  # fmt: skip
    russian = await post(RU, strength="max")
    assert russian["error"] == "bad_request" and russian["message"].startswith("Неверный запрос: strength — одно из")
    assert (await post(RU, language="x" * 5000))["message"] == "Неверный запрос: поле «language» слишком длинное."
    async with web_only.http.post(web_only.url + "/api/jobs", data=b"text", headers=RU) as response:
        assert (await response.json())["message"] == "Нет файла: отправьте его в поле формы «file»."

    missing = "/api/jobs/" + "A" * 32
    async with web_only.http.get(web_only.url + missing, headers=RU) as response:
        assert response.status == 404
        assert (await response.json())["message"] == "Такого задания нет (или его результаты уже удалены)."
    await _page(web_only, "/?lang=ru")  # the switch's cookie: the API answers in Russian without the header
    async with web_only.http.get(web_only.url + missing + "/cleaned.ogg") as response:
        assert (await response.json())["message"].startswith("Такого задания нет")


async def test_the_admin_page_speaks_the_language_too(web_only: WebStack) -> None:
    page, _ = await _page(web_only, "/admin", RU)
    assert _lang(page) == "ru" and "Токен администратора" in page and "Войти" in page
    assert '<a href="/admin?lang=en"' in page
    async with web_only.http.post(web_only.url + "/admin/login", data={"token": "wrong"}, headers=RU) as response:
        assert response.status == 403 and "Неверный токен." in await response.text()
    page, _ = await _page(web_only, "/admin?lang=en", RU)
    assert _lang(page) == "en" and "Admin token" in page


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en-GB,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE,de;q=0.9,ru;q=0.5,en;q=0.4", "ru"),  # the first language we speak, by weight
        ("en;q=0.3, RU;q=0.8", "ru"),
        ("ru;q=0,en;q=0.1", "en"),  # q=0: not this one
        ("de, fr;q=0.5, *;q=0.1", None),
        ("", None),
        ("ru;q=x", None),  # a broken weight counts as none
    ],
)
def test_accept_language_picks_the_preferred_language_we_speak(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected
