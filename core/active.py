"""Which model versions are active: the settings' defaults, overridden by admins at run time."""

from __future__ import annotations

from core.settings import Settings


def active_versions(settings: Settings) -> dict[str, str]:
    """The active denoiser and Whisper versions."""
    return {"denoiser": settings.denoiser_version, "whisper": settings.whisper_version}
