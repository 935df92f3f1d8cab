"""Which language a request gets: the page's switch (``?lang=``, remembered in a cookie), else that cookie, else the
browser's ``Accept-Language``, else English. The languages are the bot's (``core.texts.LANGUAGES``)."""

from __future__ import annotations

from aiohttp import web

from core.texts import DEFAULT_LANGUAGE, LANGUAGES

COOKIE = "voicebot_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600
VARY = {"Vary": "Accept-Language, Cookie"}  # the headers of an answer in the request's language


def from_accept_language(header: str) -> str | None:
    """The language we speak that ``header`` (``Accept-Language``, e.g. ``ru-RU,ru;q=0.9,en;q=0.8``) prefers
    most, or None. Ranges are weighed by their ``q`` (1 when absent; 0 means "not this"), in the order given."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        code = tag.strip().split("-")[0].lower()
        if code in LANGUAGES and weight > 0:
            ranked.append((-weight, index, code))
    return min(ranked)[2] if ranked else None


def language_of(request: web.Request) -> str:
    """The language of everything this request is answered with."""
    for chosen in (request.query.get("lang"), request.cookies.get(COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return from_accept_language(request.headers.get("Accept-Language", "")) or DEFAULT_LANGUAGE


def remember_language(request: web.Request, response: web.StreamResponse) -> None:
    """Keep the language chosen with the switch (``?lang=``) in a cookie, so the next visit gets it too."""
    chosen = request.query.get("lang")
    if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True, samesite="Lax",
                            secure=request.secure)  # fmt: skip
