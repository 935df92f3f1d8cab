"""What a user chooses for a note, each list defined here once for the bot, the web page, the worker and the command
line: the noise-removal strength (and what each word means in dB) and the languages one may fix for transcription.

The words are the app's; ``ml`` never sees them, only the attenuation limit in dB that ``limit_db`` gives."""

from __future__ import annotations

# Noise-removal strength → the most noise a denoiser may take away, in dB, strongest first (the order the pages list
# them and the bot's button steps through). "strong": no limit, every denoiser at its full strength. "gentle" keeps
# some room tone: DeepFilterNet's authors suggest limits of 6-20 dB to keep ambience; 20 dB is the top of that range
# (the least noise left that still is not silence), and on held-back mixtures it raised PESQ and SI-SDR over no
# limit at a DNSMOS cost (issue 12's table). "off": nothing may be taken away, so no denoiser runs.
STRENGTH_LIMIT_DB: dict[str, float | None] = {"strong": None, "gentle": 20.0, "off": 0.0}
STRENGTHS: tuple[str, ...] = tuple(STRENGTH_LIMIT_DB)
STRONGEST = STRENGTHS[0]

# The languages one may fix for transcription, "auto" (Whisper detects it) first.
TRANSCRIBE_LANGUAGES: tuple[str, ...] = ("auto", "en", "ru", "uk", "de", "fr", "es", "it", "pt", "tr", "pl", "zh", "ja")


def limit_db(strength: str) -> float | None:
    """The attenuation limit ``strength`` means, in dB: ``None`` for no limit, 0 for no denoising at all."""
    if strength not in STRENGTH_LIMIT_DB:
        raise ValueError(f"strength must be one of {', '.join(STRENGTHS)}")
    return STRENGTH_LIMIT_DB[strength]
