"""Settings the tests share: the default denoiser, the test bot's token and admin, a Redis database per worker."""

from __future__ import annotations

import os
from collections.abc import Sequence

from core.settings import Settings

DEFAULT_DENOISER: str = Settings.model_fields["denoiser_version"].default  # what a user gets unless told
TOKEN = "123456:TEST-token-never-logged"  # the test bot's token (the fake Bot API server checks it)
ADMIN_ID = 1  # the test bot's admin


def redis_url(databases: Sequence[int]) -> str:
    """The Redis URL of this pytest-xdist worker (gw0, gw1, ...): its own database from ``databases``, which the
    stacks flush, on the server ``VOICEBOT_TEST_REDIS`` names (default the machine's, 127.0.0.1:6379), so that two
    test runs on one machine can keep apart."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    server = os.environ.get("VOICEBOT_TEST_REDIS", "redis://127.0.0.1:6379")
    return f"{server}/{databases[worker]}"
