"""Word error rate on normalised text (what the tests and benchmarks compare)."""

from __future__ import annotations

import re
import unicodedata

_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "&": "and"}
_NUMBERS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
    "6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten",
}  # fmt: skip


def normalize_text(text: str, language: str = "en") -> str:
    """Lower-case, drop punctuation, read ё as е; in English also spell abbreviations and small numbers out.

    Other languages keep their digits: a number's spelling there depends on case and gender."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("ё", "е")
    words = re.findall(r"[\w']+|&", text)
    english = language == "en"
    out = []
    for word in words:
        word = word.strip("'")
        out.append(_ABBREVIATIONS.get(word, _NUMBERS.get(word, word)) if english else word)
    return " ".join(w.replace("-", " ") for w in out if w)


def wer(reference: str, hypothesis: str, language: str = "en") -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after normalisation."""
    import jiwer

    ref, hyp = normalize_text(reference, language), normalize_text(hypothesis, language)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp or "<empty>"))


def corpus_wer(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    """Word errors over all utterances divided by reference words over all of them (not a mean of WERs)."""
    import jiwer

    refs = [normalize_text(r, language) for r in references]
    return float(jiwer.wer(refs, [normalize_text(h, language) or "<empty>" for h in hypotheses]))
