"""Where the shared data lives (speech, noise, DNSMOS models), outside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def default_shared() -> Path:
    """The shared data folder: $VOICEBOT_SHARED_DIR, else ../shared beside the checkout."""
    return Path(os.environ.get("VOICEBOT_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
