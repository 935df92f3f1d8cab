"""`voicebot worker --check`, the containers' health check, stays light: it imports nothing of the pipeline, the
models or the Bot API client, so that it answers in well under a second on a busy machine (issue 24)."""

from __future__ import annotations

import os
import subprocess
import sys

from testkit.paths import ROOT
from testkit.settings import redis_url

HEAVY = (
    "torch", "numpy", "av", "onnxruntime", "ctranslate2", "faster_whisper", "aiogram", "ml.pipeline", "worker.flow",
)  # fmt: skip
PROBE = (
    "import sys\n"
    "from voicebot.cli import main\n"
    "code = main(['worker', '--check'])\n"
    f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))\n"
    "sys.exit(code)\n"
)


def test_the_health_check_answers_without_the_pipeline() -> None:
    env = {**os.environ, "REDIS_URL": redis_url((0,) * 8), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr  # no worker has written this host's key in that database
    assert result.stdout.splitlines() == ["unhealthy", "[]"]
