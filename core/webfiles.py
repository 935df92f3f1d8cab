"""Where a web job's files lie under WEB_DATA_DIR (shared by the web app and the workers): one folder per job."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

PUBLIC_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # what secrets.token_urlsafe makes
CLEANED = "cleaned.ogg"
SPECTROGRAM = "spectrogram.png"


@dataclass(frozen=True)
class WebFiles:
    """A web job's folder holds ``original.<format>`` (the upload), ``cleaned.ogg`` and ``spectrogram.png``."""

    root: Path

    def folder(self, public_id: str) -> Path:
        """The job's folder; ``ValueError`` for anything that is not a public id (no path tricks)."""
        if not PUBLIC_ID.match(public_id):
            raise ValueError("not a job id")
        return self.root / public_id

    def original(self, public_id: str, kind: str) -> Path:
        return self.folder(public_id) / f"original.{kind}"

    def cleaned(self, public_id: str) -> Path:
        return self.folder(public_id) / CLEANED

    def spectrogram(self, public_id: str) -> Path:
        return self.folder(public_id) / SPECTROGRAM

    def remove(self, public_id: str) -> None:
        """Delete the job's folder and everything in it."""
        shutil.rmtree(self.folder(public_id), ignore_errors=True)

    def purge_older_than(self, before: dt.datetime) -> int:
        """Delete the folders last changed before ``before``; returns how many went."""
        if not self.root.is_dir():
            return 0
        cutoff = before.timestamp()
        gone = 0
        for entry in self.root.iterdir():
            if entry.is_dir() and PUBLIC_ID.match(entry.name) and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                gone += 1
        return gone


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the whole file or none of it."""
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    os.replace(partial, path)
