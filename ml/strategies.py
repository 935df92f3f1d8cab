"""Which audio Whisper hears of a note (``TRANSCRIBE_STRATEGY``): the pipeline's words, in a module that imports no
model, so the app's command line and settings check can list them without loading torch."""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

# original: the untouched note; denoised: the cleaned one; mix: the cleaned one with some of the original added
# back; best: both transcribed, the surer kept; auto: the mix for a noisy note, the original for a clear one
Strategy = Literal["original", "denoised", "mix", "best", "auto"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


def is_strategy(word: str) -> TypeGuard[Strategy]:
    """Whether ``word`` is one of ``STRATEGIES``."""
    return word in STRATEGIES
