"""Typed errors raised on bad input: each carries a short message a user can read."""

from __future__ import annotations


class AudioError(Exception):
    """Base class for problems with the user's audio; ``code`` is stable, ``str()`` is readable."""

    code = "audio_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedAudio(AudioError):
    """The file cannot be decoded as audio (corrupt, not audio, or a video without sound)."""

    code = "unsupported_audio"


class EmptyAudio(AudioError):
    """The file decodes but holds no samples."""

    code = "empty_audio"


class TooLong(AudioError):
    """The audio is longer than the configured maximum."""

    code = "too_long"

    def __init__(self, duration_s: float, max_s: float) -> None:
        super().__init__(f"audio is {duration_s / 60:.1f} min long; the limit is {max_s / 60:.0f} min")
        self.duration_s = duration_s
        self.max_s = max_s

    def __reduce__(self) -> tuple[type[TooLong], tuple[float, float]]:  # crosses from the pipeline's process
        return (TooLong, (self.duration_s, self.max_s))


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


class NoSpeech(AudioError):
    """The audio holds no speech (silence or noise only)."""

    code = "no_speech"


class ModelError(Exception):
    """A model version is unknown, its weights are missing or damaged."""
