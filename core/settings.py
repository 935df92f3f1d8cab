"""Settings, read once from the environment (and ``.env``) into one typed object."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.choices import STRENGTHS

DEFAULT_API_URL = "https://api.telegram.org"
LOCAL_SERVER_MAX_FILE_MB = 2000.0  # what a local Bot API server lets a bot download
# what Telegram allows in setWebhook's secret_token (and so in the X-Telegram-Bot-Api-Secret-Token header)
WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    """Every knob of the bot and the worker. Names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = DEFAULT_API_URL
    # a local `telegram-bot-api --local` server: files up to 2 GB, handed over as absolute paths on its disk
    telegram_api_local: bool = False
    # webhook mode (unset: long polling): the public URL Telegram posts updates to, HTTPS on 443, 80, 88 or 8443 (a
    # local Bot API server also takes http and any port); the bot listens on host:port at path (default: the URL's)
    telegram_webhook_url: str | None = None
    # sent back by Telegram with every update; unset: derived from the token (bot.webhook.webhook_secret)
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_host: str = "127.0.0.1"
    telegram_webhook_port: int = Field(8088, ge=0, le=65535)
    telegram_webhook_path: str | None = None
    database_url: str = "sqlite+aiosqlite:///var/voicebot.db"
    redis_url: str | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    model_cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "voicebot")
    models_dir: Path | None = None  # extra folder of exported denoiser checkpoints

    denoiser_version: str = "deepfilternet3-vn1"  # DeepFilterNet3 fine-tuned here (ml/weights)
    denoiser_strength: str = "strong"  # one of core.choices.STRENGTHS; users may choose their own in /settings
    whisper_version: str = "base"
    # which audio Whisper hears: a word of ml's pipeline, checked where the root builds its options (voicebot.wiring)
    transcribe_strategy: str = "auto"
    mix_ratio: float | None = Field(None, ge=0.0, le=1.0)  # None: the pipeline's measured default
    whisper_threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    whisper_beam_size: int = Field(5, ge=1, le=10)
    whisper_vad: bool = False
    whisper_compute_type: str = "int8"
    # the pipeline process's niceness (0-19): on a machine the bot or the web page shares with workers, the CPU
    # scheduler favours them over denoising and Whisper (0: same priority; BENCHMARKS.md, "Bursts", for what it did)
    pipeline_nice: int = Field(10, ge=0, le=19)

    max_duration_s: float = Field(1800.0, gt=0)
    # a note's processing is stopped after base + per_audio × its length (the measured RTF is about 0.15)
    processing_time_base_s: float = Field(60.0, gt=0)
    processing_time_per_audio_s: float = Field(1.0, gt=0)
    max_file_mb: float = Field(20.0, gt=0)  # Telegram's download limit; 2000 by default with a local server
    max_jobs_in_flight: int = Field(10, ge=1)  # per user (a batch of forwarded notes fits)
    max_jobs_per_hour: int = Field(30, ge=1)  # per user
    max_chat_jobs_per_hour: int = Field(60, ge=1)  # per group chat, whoever asks
    max_queue_depth: int = Field(200, ge=1)  # all users: back-pressure beyond this
    retention_days: float = Field(30.0, gt=0)  # transcripts and stored results are erased after this
    job_heartbeat_s: float = Field(10.0, gt=0)  # a worker refreshes the job it holds this often
    job_stale_after_s: float = Field(45.0, gt=0)  # no heartbeat for this long: the worker died, requeue
    requeue_after_s: float = Field(60.0, gt=0)  # a queued job this old is queued again if Redis lost it

    web_host: str = "127.0.0.1"
    web_port: int = Field(8080, ge=0, le=65535)
    web_admin_token: SecretStr | None = None  # unset: no /admin page
    web_data_dir: Path = Path("var") / "web"  # uploads and results of web jobs, shared by the web app and workers
    web_jobs_per_hour: int = Field(20, ge=1)  # per client (IP address)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(";", ",").split(",") if part.strip())
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("denoiser_strength")
    @classmethod
    def _known_strength(cls, value: str) -> str:
        if value not in STRENGTHS:
            raise ValueError(f"must be one of {', '.join(STRENGTHS)}")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an https:// URL with a host (http:// only for a local Bot API server)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():  # an empty line in .env: unset
            return None
        if not WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("telegram_webhook_path")
    @classmethod
    def _webhook_path(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @model_validator(mode="after")
    def _webhook_path_from_url(self) -> Settings:
        if self.telegram_webhook_url is not None and self.telegram_webhook_path is None:
            self.telegram_webhook_path = urlsplit(self.telegram_webhook_url).path or "/"
        return self

    @model_validator(mode="after")
    def _local_server_files(self) -> Settings:
        if self.telegram_api_local and "max_file_mb" not in self.model_fields_set:
            self.max_file_mb = LOCAL_SERVER_MAX_FILE_MB
        return self

    @property
    def default_models(self) -> dict[str, str]:
        """The model versions in use until an admin switches them: family → version."""
        return {"denoiser": self.denoiser_version, "whisper": self.whisper_version}


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; keyword overrides win over the environment."""
    return Settings(**overrides)  # type: ignore[arg-type]
