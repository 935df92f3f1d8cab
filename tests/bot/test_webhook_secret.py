"""The webhook's secret: the configured one, else one derived from the token that Telegram accepts."""

from __future__ import annotations

from bot.webhook import webhook_secret
from core.settings import WEBHOOK_SECRET_PATTERN, Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, telegram_webhook_url="https://bot.example.com/hook", **values)  # type: ignore[arg-type]


def test_derived_secret_is_stable_per_token_and_valid_for_telegram() -> None:
    first = webhook_secret(_settings(telegram_bot_token="1:aaa"))
    assert first == webhook_secret(_settings(telegram_bot_token="1:aaa"))  # every restart and replica agree
    assert first != webhook_secret(_settings(telegram_bot_token="1:bbb"))  # a new token, a new secret
    assert WEBHOOK_SECRET_PATTERN.fullmatch(first) and len(first) == 64


def test_configured_secret_wins() -> None:
    settings = _settings(telegram_bot_token="1:aaa", telegram_webhook_secret="my_Secret-1")
    assert webhook_secret(settings) == "my_Secret-1"
