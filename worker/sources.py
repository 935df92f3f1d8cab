"""Where a job's audio comes from (the flow's ``AudioSource``): a Telegram note's file, or a web upload."""

from __future__ import annotations

import asyncio
import errno
import io
import time
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot

from ml.audio import probe_duration
from worker.flow import Audio


class LocalFileMissing(Exception):
    """A local Bot API server named a file this worker cannot read (their disks are not shared)."""


@dataclass(frozen=True)
class TelegramFile:
    """A Telegram note's file: downloaded through the Bot API into memory (Telegram's limit is 20 MB), or, from a
    local Bot API server (``TELEGRAM_API_LOCAL``), the path on its disk, which the worker shares and the pipeline
    reads as a stream (files up to 2 GB)."""

    bot: Bot
    file_id: str
    stated_s: float | None  # the length Telegram states; None for a file sent as a document
    local: bool
    stage: str = "downloading"

    async def fetch(self) -> Audio:
        """The note's bytes, or its path on a local Bot API server's disk."""
        started = time.perf_counter()
        telegram_file = await self.bot.get_file(self.file_id)
        path = telegram_file.file_path or ""
        data: bytes | str = path
        if self.local and not Path(path).is_file():
            raise LocalFileMissing(
                f"the local Bot API server's file {path} is not readable here: share its working directory "
                "with the worker at the same path"
            )
        if not self.local:
            buffer = io.BytesIO()
            await self.bot.download_file(path, destination=buffer, timeout=120)
            data = buffer.getvalue()
        return Audio(data, self.stated_s, {"download": (time.perf_counter() - started) * 1000})


@dataclass(frozen=True)
class WebUpload:
    """A web job's upload in its folder under ``WEB_DATA_DIR`` (which the web app shares), handed to the pipeline by
    its path and read as a stream: an upload is never held whole."""

    path: Path
    stage: str = "decoding"

    async def fetch(self) -> Audio:
        """The upload's path, with the length the file states (``None`` when it states none)."""
        if not self.path.is_file():  # its folder was erased (retention) before a worker got to it
            raise FileNotFoundError(errno.ENOENT, "no such upload", str(self.path))
        return Audio(str(self.path), await asyncio.to_thread(probe_duration, self.path))
