"""Admin commands: /models, /denoiser <version>, /whisper <version>, /stats. Only for ADMIN_IDS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, TelegramObject
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalog import ModelCatalog
from core.db.admin import audit, get_active_models, job_stats, set_active_model
from core.db.models import User
from core.fleet import describe, workers_loaded, workers_unable
from core.queue import queue_depth
from core.settings import Settings
from core.texts import t


class AdminOnly(BaseMiddleware):
    """Refuses admin commands to anyone not in ADMIN_IDS, and audits the attempt."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        settings: Settings = data["settings"]
        sender = data.get("event_from_user")
        if sender is not None and sender.id in settings.admin_ids:
            return await handler(event, data)
        if not isinstance(event, Message):  # admin commands are messages; anything else is ignored
            return None
        if sender is not None:
            await audit(data["session"], sender.id, "refused", event.text or "", allowed=False)
        await event.reply(t("not_allowed", data["lang"]))
        return None


async def models(
    message: Message, session: AsyncSession, settings: Settings, catalog: ModelCatalog, arq: ArqRedis, lang: str
) -> None:
    active = await get_active_models(session, settings.default_models)
    loaded = await workers_loaded(arq)
    await message.answer(
        t(
            "models",
            lang,
            denoiser=active["denoiser"],
            whisper=active["whisper"],
            denoisers=", ".join(catalog.names("denoiser")),
            whispers=", ".join(catalog.names("whisper")),
            loaded="; ".join(loaded) or "—",
        )
    )


async def set_version(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    user: User,
    catalog: ModelCatalog,
    arq: ArqRedis,
    lang: str,
) -> None:
    family = command.command
    available = ", ".join(catalog.names(family))
    version = (command.args or "").strip()
    if not version:
        await message.answer(t("model_usage", lang, family=family, available=available))
        return
    if version not in catalog.names(family):
        await audit(session, user.id, f"set_{family}", version, allowed=False)
        await message.answer(t("model_unknown", lang, family=family, version=version, available=available))
        return
    unable = await workers_unable(arq, family, version)
    if unable:  # the workers would fail every note with it
        await audit(session, user.id, f"set_{family}", version, allowed=False)
        await message.answer(t("model_unrunnable", lang, family=family, version=version, workers=describe(unable)))
        return
    await set_active_model(session, family, version, user.id)
    await message.answer(t("model_set", lang, family=family, version=version))


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


async def stats(message: Message, session: AsyncSession, arq: ArqRedis, lang: str) -> None:
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    numbers = await job_stats(session, midnight)
    rate = "—" if numbers.success_rate is None else f"{numbers.success_rate:.0%}"
    await message.answer(
        t(
            "stats",
            lang,
            jobs=numbers.jobs,
            done=numbers.done,
            failed=numbers.failed,
            in_progress=numbers.in_progress,
            rate=rate,
            p50=_seconds(numbers.p50_s),
            p95=_seconds(numbers.p95_s),
            depth=await queue_depth(arq),
        )
    )


def build_router() -> Router:
    """Admin commands, refused to everyone outside ADMIN_IDS."""
    router = Router(name="admin")
    router.message.middleware(AdminOnly())
    router.message.register(models, Command("models"))
    router.message.register(set_version, Command("denoiser", "whisper"))
    router.message.register(stats, Command("stats"))
    return router
