"""Webhook mode's settings: the path follows the URL unless set, and bad values fail at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_polling_unless_a_url_is_set() -> None:
    settings = _settings(telegram_webhook_url="")  # an empty line in .env
    assert settings.telegram_webhook_url is None and settings.telegram_webhook_path is None
    assert (settings.telegram_webhook_host, settings.telegram_webhook_port) == ("127.0.0.1", 8088)


@pytest.mark.parametrize(
    ("url", "path", "expected"),
    [
        ("https://bot.example.com/telegram/hook", None, "/telegram/hook"),
        ("https://bot.example.com:8443", None, "/"),
        ("https://bot.example.com/public/hook", "/hook", "/hook"),  # a proxy that strips /public
    ],
)
def test_path_defaults_to_the_urls(url: str, path: str | None, expected: str) -> None:
    assert _settings(telegram_webhook_url=url, telegram_webhook_path=path).telegram_webhook_path == expected


@pytest.mark.parametrize(
    "values",
    [
        {"telegram_webhook_url": "bot.example.com/hook"},  # no scheme
        {"telegram_webhook_url": "ftp://bot.example.com/hook"},
        {"telegram_webhook_url": "https:///hook"},  # no host
        {"telegram_webhook_url": "https://bot.example.com/hook", "telegram_webhook_secret": "has spaces"},
        {"telegram_webhook_url": "https://bot.example.com/hook", "telegram_webhook_secret": "x" * 257},
        {"telegram_webhook_url": "https://bot.example.com/hook", "telegram_webhook_path": "hook"},
        {"telegram_webhook_port": 70000},
    ],
)
def test_bad_webhook_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _settings(**values)


def test_an_empty_secret_is_unset() -> None:
    assert _settings(telegram_webhook_secret="").telegram_webhook_secret is None
