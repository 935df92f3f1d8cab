"""Fetch model files over HTTP(S) into a cache, with torch.hub: atomic (a temporary file renamed into place) and
checked against a sha256 prefix."""

from __future__ import annotations

import hashlib
import http.client
import logging
from pathlib import Path

from ml.errors import ModelError

log = logging.getLogger(__name__)


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def download(url: str, dest: str | Path, *, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right hash is already there.

    ``sha256`` may be the full hex digest or a prefix of it (the published Demucs files carry a prefix in
    their names). A mismatch or a failed download raises ``ModelError``; nothing half-written is left at ``dest``.
    torch.hub sets no timeout of its own: a server that stops answering mid-file stalls the call.
    """
    from torch.hub import download_url_to_file  # here: the bot imports the registry, never torch

    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_of(dest).startswith(sha256.lower())):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", url, dest)
    try:
        download_url_to_file(url, str(dest), hash_prefix=sha256.lower() if sha256 else None, progress=False)
    except RuntimeError as exc:  # torch.hub's only RuntimeError: "invalid hash value"
        raise ModelError(f"checksum mismatch for {url}: {exc}") from exc
    except (OSError, http.client.HTTPException) as exc:  # URLError, HTTPError, IncompleteRead, disk errors
        raise ModelError(f"cannot download {url}: {exc}") from exc
    return dest
