"""The project's compose stack as users run it (``docker/compose.yaml``), for the compose test: Docker Engine and
Compose v2 (``docker/engine.sh`` installs and starts them), the override ``testkit/compose.test.yaml`` for what this
machine lacks, a project of its own; and the fake Bot API server inside it, driven over its control API."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testkit.fake_telegram_service import RemoteTelegram
from testkit.paths import ROOT

DOCKER = "/usr/bin/docker"  # the Engine's own client (docker/engine.sh)
COMPOSE_FILES = ("docker/compose.yaml", "testkit/compose.test.yaml")


def engine() -> None:
    """Install and start Docker Engine and Compose v2 when missing, and make the images Docker Hub would give."""
    result = subprocess.run(["bash", str(ROOT / "docker" / "engine.sh")], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise AssertionError(f"docker/engine.sh failed: {result.stdout[-2000:]}{result.stderr[-3000:]}")


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``docker args...`` with the Engine's client (builds with BuildKit, sharing compose's build cache); the
    result, whatever its exit status."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout, env=env)


@dataclass
class Compose:
    """One compose project of the stack: ``docker compose -f docker/compose.yaml -f testkit/compose.test.yaml -p``."""

    env_file: Path  # the stack's .env (VOICEBOT_ENV_FILE): token, Bot API URL, admins
    web_port: int
    telegram_port: int
    project: str = field(default_factory=lambda: f"voicebot-test-{uuid.uuid4().hex[:8]}")

    @property
    def env(self) -> dict[str, str]:
        """The environment compose reads the files' variables from."""
        return {
            **os.environ,
            "VOICEBOT_ENV_FILE": str(self.env_file),
            "WEB_PORT": str(self.web_port),
            "FAKE_TELEGRAM_PORT": str(self.telegram_port),
        }

    def __call__(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``docker compose -f ... -p PROJECT args...``; fails with its output when ``check`` and it fails."""
        files = [part for name in COMPOSE_FILES for part in ("-f", name)]
        result = subprocess.run(
            [DOCKER, "compose", *files, "-p", self.project, *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)}: {result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result

    def containers(self) -> list[dict[str, Any]]:
        """``docker compose ps --all`` as records: Service, Name, ID, State, Health, ExitCode."""
        out = self("ps", "--all", "--format", "json").stdout.strip()
        if out.startswith("["):
            return list(json.loads(out))
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def sql(self, query: str) -> list[list[str]]:
        """Rows of ``query`` run by psql inside the postgres service (values as text, ``|`` between them)."""
        out = self("exec", "-T", "postgres", "psql", "-U", "voicebot", "-d", "voicebot", "-tAc", query).stdout
        return [line.split("|") for line in out.splitlines() if line]

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def telegram(self) -> RemoteTelegram:
        return RemoteTelegram(f"http://127.0.0.1:{self.telegram_port}")
