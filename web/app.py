"""The web app: wiring of the page, its API and the admin page; ``run_web`` serves it until stopped."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from arq import create_pool

from core.catalog import ModelCatalog
from core.db.engine import make_engine, make_sessionmaker
from core.queue import redis_settings
from core.settings import Settings
from core.texts import LANGUAGES
from core.webfiles import WebFiles
from web import admin, api
from web.context import CONTEXT, WebContext
from web.language import VARY, language_of, remember_language
from web.pages import STATIC, index_html

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# scripts, styles and media only from this site; no framing; job ids never leak in a Referer header
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # errors and redirects get the headers too
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


async def _connect(app: web.Application) -> None:
    ctx = app[CONTEXT]
    ctx.engine = make_engine(ctx.settings.database_url)
    ctx.sessionmaker = make_sessionmaker(ctx.engine)
    ctx.arq = await create_pool(redis_settings(ctx.settings.redis_url))
    ctx.files.root.mkdir(parents=True, exist_ok=True)


async def _close(app: web.Application) -> None:
    ctx = app[CONTEXT]
    if ctx.arq is not None:
        await ctx.arq.aclose()
    if ctx.engine is not None:
        await ctx.engine.dispose()


def make_app(settings: Settings, catalog: ModelCatalog) -> web.Application:
    """The application; it connects to the database and Redis when it starts, and lets go when it stops. Bodies
    are read in chunks by the upload handler, so aiohttp's own limit only guards the small forms."""
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[CONTEXT] = WebContext(settings=settings, catalog=catalog, files=WebFiles(settings.web_data_dir))
    app.on_startup.append(_connect)
    app.on_cleanup.append(_close)
    pages = {lang: index_html(settings, lang) for lang in LANGUAGES}

    async def index(request: web.Request) -> web.Response:
        lang = language_of(request)
        response = web.Response(text=pages[lang], content_type="text/html",
                                headers={"Content-Language": lang} | VARY)  # fmt: skip
        remember_language(request, response)
        return response

    app.router.add_get("/", index)
    app.router.add_static("/static", STATIC, show_index=False)
    api.add_routes(app)
    if settings.web_admin_token is not None:
        admin.add_routes(app)
    return app


def run_web(settings: Settings, catalog: ModelCatalog) -> None:
    """Serve the page on WEB_HOST:WEB_PORT until stopped (SIGINT/SIGTERM)."""
    print(f"web page at http://{settings.web_host}:{settings.web_port}/", flush=True)
    web.run_app(make_app(settings, catalog), host=settings.web_host, port=settings.web_port, print=None,
                access_log=None)  # fmt: skip
