"""The HTML the server renders, in one of the bot's languages: the main page (filled once per language from
``web.texts``, its choices from ``core.choices``) and the admin pages."""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from pathlib import Path
from string import Template

from core.choices import STRENGTHS, TRANSCRIBE_LANGUAGES
from core.settings import Settings
from core.texts import LANGUAGES
from web.sniff import FORMAT_NAMES, FORMATS
from web.texts import ADMIN, PAGE, SCRIPT, pick

STATIC = Path(__file__).parent / "static"  # served as they are: script and style
TEMPLATES = Path(__file__).parent / "templates"


def index_html(settings: Settings, lang: str) -> str:
    """The main page in ``lang``, its texts filled in (the script's as JSON, with ``<`` escaped so it cannot close
    the tag) and its choices listed: the strengths (``DENOISER_STRENGTH`` chosen) and the languages ("auto")."""
    texts = pick(PAGE, lang)
    limits = {"retention_days": f"{settings.retention_days:g}", "max_mb": f"{settings.max_file_mb:g}",
              "formats": FORMAT_NAMES}  # fmt: skip
    values = {key: escape(Template(text).safe_substitute(limits)) for key, text in texts.items()}
    values |= {
        "lang": lang,
        "language_switch": language_switch(lang, "/"),
        "accept": escape(",".join(["audio/*", "video/*", *(s for f in FORMATS.values() for s in f.suffixes)])),
        "strength_options": _options(STRENGTHS, "strength", texts, settings.denoiser_strength),
        "language_options": _options(TRANSCRIBE_LANGUAGES, "language", texts, TRANSCRIBE_LANGUAGES[0]),
        "script_texts": json.dumps(pick(SCRIPT, lang), ensure_ascii=False).replace("<", "\\u003c"),
    }
    return Template((TEMPLATES / "index.html").read_text(encoding="utf-8")).substitute(values)


def _options(values: Iterable[str], prefix: str, texts: dict[str, str], selected: str) -> str:
    """A ``<select>``'s options: each value labelled with its text ``<prefix>_<value>``."""
    return "\n          ".join(
        f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
        f"{escape(texts[f'{prefix}_{value}'])}</option>"
        for value in values
    )


def language_switch(lang: str, path: str) -> str:
    """EN | RU: ``path`` in each other language (``?lang=``), the current one marked."""
    links = []
    for code in LANGUAGES:
        label, name = code.upper(), escape(PAGE["language_name"][code])
        if code == lang:
            links.append(f'<strong lang="{code}" title="{name}" aria-current="true">{label}</strong>')
        else:
            links.append(f'<a href="{path}?lang={code}" hreflang="{code}" lang="{code}" title="{name}">{label}</a>')
    return " | ".join(links)


def _page(body: str, lang: str) -> str:
    title = escape(ADMIN["title"][lang])
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/style.css"></head><body><main>'
        f'<nav class="languages" aria-label="{escape(PAGE["switch"][lang])}">{language_switch(lang, "/admin")}</nav>'
        f"<h1>{title}</h1>{body}</main></body></html>"
    )


def login_html(lang: str, message: str = "") -> str:
    """The login form."""
    texts = pick(ADMIN, lang)
    note = f'<p class="status failed">{escape(message)}</p>' if message else ""
    return _page(
        f'{note}<form method="post" action="/admin/login"><label>{escape(texts["login"])} '
        '<input type="password" name="token" autocomplete="current-password" required></label> '
        f'<button type="submit">{escape(texts["sign_in"])}</button></form>',
        lang,
    )


def admin_html(
    *,
    lang: str,
    csrf: str,
    active: dict[str, str],
    available: dict[str, list[str]],
    loaded: list[str],
    stats: dict[str, str],
    message: str = "",
) -> str:
    """The dashboard: active models with a switch form per family, the workers' loaded models, today's figures."""
    texts = pick(ADMIN, lang)
    hidden = f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
    forms = []
    for family, names in available.items():
        options = "".join(
            f'<option value="{escape(n)}"{" selected" if n == active[family] else ""}>{escape(n)}</option>'
            for n in names
        )
        forms.append(
            f'<form method="post" action="/admin/models" class="row">{hidden}'
            f'<input type="hidden" name="family" value="{escape(family)}">'
            f'<label>{escape(family)} ({escape(texts["active"])}: <strong id="active-{escape(family)}">'
            f'{escape(active[family])}</strong>) <select name="version">{options}</select></label>'
            f'<button type="submit">{escape(texts["switch"])}</button></form>'
        )
    rows = "".join(f"<tr><th>{escape(texts[key])}</th><td>{escape(value)}</td></tr>" for key, value in stats.items())
    note = f'<p class="status">{escape(message)}</p>' if message else ""
    workers = "".join(f"<li>{escape(line)}</li>" for line in loaded) or "<li>—</li>"
    return _page(
        f"{note}<h2>{escape(texts['models'])}</h2>{''.join(forms)}"
        f"<h2>{escape(texts['loaded'])}</h2><ul>{workers}</ul>"
        f'<h2>{escape(texts["stats"])}</h2><table id="stats">{rows}</table>'
        f'<form method="post" action="/admin/logout">{hidden}<p><button type="submit">'
        f"{escape(texts['sign_out'])}</button></p></form>",
        lang,
    )
