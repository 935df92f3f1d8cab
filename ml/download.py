"""Fetch model files over HTTP(S) into a cache: resumable-safe (atomic rename) and checked by sha256."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from ml.errors import ModelError

log = logging.getLogger(__name__)
_BLOCK = 1 << 20


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: str | Path, *, sha256: str | None = None, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right hash is already there.

    ``sha256`` may be the full hex digest or a prefix of it (the published Demucs files carry a prefix in
    their names). Without it, a sha256 the server states (Hugging Face's ``X-Linked-Etag``) is checked.
    A mismatch removes the download and raises ``ModelError``; nothing half-written is ever left at ``dest``.
    """
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_of(dest).startswith(sha256.lower())):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "voicebot"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout_s) as response:
            stated = (response.headers.get("X-Linked-Etag") or "").strip('"').lower()
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            log.info("downloading %s (%s bytes)", url, total or "unknown")
            while block := response.read(_BLOCK):
                out.write(block)
                digest.update(block)
                done += len(block)
        expected = (sha256 or (stated if len(stated) == 64 else "")).lower()
        actual = digest.hexdigest()
        if expected and not actual.startswith(expected):
            raise ModelError(f"checksum mismatch for {url}: expected {expected}, got {actual}")
        if total and done != total:
            raise ModelError(f"download of {url} stopped at {done} of {total} bytes")
        os.replace(tmp, dest)
    except OSError as exc:
        raise ModelError(f"cannot download {url}: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def fetch_json(url: str, *, timeout_s: float = 30.0) -> object:
    """GET ``url`` and parse its JSON body."""
    import json

    try:
        request = urllib.request.Request(url, headers={"User-Agent": "voicebot"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot fetch {url}: {exc}") from exc
