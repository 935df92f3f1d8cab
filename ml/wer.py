"""Word error rate on normalised text (what the tests and benchmarks compare)."""

from __future__ import annotations

import re
import unicodedata

_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "&": "and"}
_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
    "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}  # fmt: skip


def normalize_text(text: str) -> str:
    """Lower-case, drop punctuation, spell common abbreviations and small numbers out."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    words = re.findall(r"[\w']+|&", text)
    out = []
    for word in words:
        word = word.strip("'")
        out.append(_ABBREVIATIONS.get(word, _NUMBERS.get(word, word)))
    return " ".join(w.replace("-", " ") for w in out if w)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after normalisation."""
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or "<empty>"))
