"""The bot never reaches torch, faster-whisper or onnxruntime: its image has none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "faster_whisper", "ctranslate2", "onnxruntime", "av", "soxr")


def test_the_bot_imports_nothing_heavy() -> None:
    code = (
        "import sys, bot.app, bot.handlers.admin, bot.handlers.voice, bot.handlers.settings, voicebot.cli; "
        # what `voicebot bot` builds before it starts: the registry that names the versions admins may choose
        "from core.settings import load_settings; from voicebot import wiring; wiring.registry(load_settings()); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
