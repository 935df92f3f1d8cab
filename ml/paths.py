"""Where the shared data lies (speech, noise, DNSMOS models), outside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def default_shared() -> Path:
    """The shared data folder: $VOICEBOT_SHARED_DIR, else ../shared beside the checkout."""
    return Path(os.environ.get("VOICEBOT_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")


def dev_transcripts() -> dict[str, str]:
    """File name → reference text for the English dev set."""
    rows = (default_shared() / "data" / "speech" / "dev" / "transcripts.tsv").read_text().splitlines()[1:]
    return dict(row.split("\t", 1) for row in rows if row.strip())
