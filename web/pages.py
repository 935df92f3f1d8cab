"""The HTML the server renders: the main page (filled once from ``web.texts``) and the admin pages."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from string import Template

from core.settings import Settings
from web.texts import ADMIN, LANGUAGES, PAGE, SCRIPT

STATIC = Path(__file__).parent / "static"  # served as they are: script and style
TEMPLATES = Path(__file__).parent / "templates"


def index_html(settings: Settings) -> str:
    """The main page, its texts filled in (the script's as JSON, with ``<`` escaped so it cannot close the tag)."""
    limits = {"retention_days": f"{settings.retention_days:g}", "max_mb": f"{settings.max_file_mb:g}"}
    values = {key: escape(Template(text).safe_substitute(limits)) for key, text in PAGE.items()}
    values["language_options"] = "\n          ".join(
        f'<option value="{code}">{escape(name)}</option>' for code, name in LANGUAGES.items()
    )
    values["script_texts"] = json.dumps(SCRIPT, ensure_ascii=False).replace("<", "\\u003c")
    return Template((TEMPLATES / "index.html").read_text(encoding="utf-8")).substitute(values)


def _page(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{escape(ADMIN["title"])}</title><link rel="stylesheet" href="/static/style.css"></head>'
        f"<body><main><h1>{escape(ADMIN['title'])}</h1>{body}</main></body></html>"
    )


def login_html(message: str = "") -> str:
    """The login form."""
    note = f'<p class="status failed">{escape(message)}</p>' if message else ""
    return _page(
        f'{note}<form method="post" action="/admin/login"><label>{escape(ADMIN["login"])} '
        '<input type="password" name="token" autocomplete="current-password" required></label> '
        f'<button type="submit">{escape(ADMIN["sign_in"])}</button></form>'
    )


def admin_html(
    *,
    csrf: str,
    active: dict[str, str],
    available: dict[str, list[str]],
    loaded: list[str],
    stats: dict[str, str],
    message: str = "",
) -> str:
    """The dashboard: active models with a switch form per family, the workers' loaded models, today's figures."""
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
            f'<label>{escape(family)} ({escape(ADMIN["active"])}: <strong id="active-{escape(family)}">'
            f'{escape(active[family])}</strong>) <select name="version">{options}</select></label>'
            f'<button type="submit">{escape(ADMIN["switch"])}</button></form>'
        )
    rows = "".join(f"<tr><th>{escape(ADMIN[key])}</th><td>{escape(value)}</td></tr>" for key, value in stats.items())
    note = f'<p class="status">{escape(message)}</p>' if message else ""
    workers = "".join(f"<li>{escape(line)}</li>" for line in loaded) or "<li>—</li>"
    return _page(
        f"{note}<h2>{escape(ADMIN['models'])}</h2>{''.join(forms)}"
        f"<h2>{escape(ADMIN['loaded'])}</h2><ul>{workers}</ul>"
        f'<h2>{escape(ADMIN["stats"])}</h2><table id="stats">{rows}</table>'
        f'<form method="post" action="/admin/logout">{hidden}<p><button type="submit">'
        f"{escape(ADMIN['sign_out'])}</button></p></form>"
    )
