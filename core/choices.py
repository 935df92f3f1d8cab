"""What a user chooses for a note, each list defined here once for the bot, the web page, the worker and the command
line: the noise-removal strength (and what each word means in dB), the languages one may fix for transcription, and
what the answer holds (the reply mode).

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

# What the answer holds: the cleaned voice and the text, or the text alone. These words are stored (users',
# chats' and jobs' reply_mode); a group's admins say them as /reply voice|text (REPLY_COMMAND).
VOICE_AND_TEXT = "voice_text"
TEXT_ONLY = "text"
REPLY_MODES: tuple[str, ...] = (VOICE_AND_TEXT, TEXT_ONLY)
REPLY_COMMAND: dict[str, str] = {"voice": VOICE_AND_TEXT, "text": TEXT_ONLY}

# The languages one may fix for transcription, "auto" (Whisper detects it) first.
TRANSCRIBE_LANGUAGES: tuple[str, ...] = ("auto", "en", "ru", "uk", "de", "fr", "es", "it", "pt", "tr", "pl", "zh", "ja")


def limit_db(strength: str) -> float | None:
    """The attenuation limit ``strength`` means, in dB: ``None`` for no limit, 0 for no denoising at all."""
    if strength not in STRENGTH_LIMIT_DB:
        raise ValueError(f"strength must be one of {', '.join(STRENGTHS)}")
    return STRENGTH_LIMIT_DB[strength]
