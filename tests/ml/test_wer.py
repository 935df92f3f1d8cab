"""WER normalisation: English spells numbers out, Russian keeps them and reads ё as е."""

from __future__ import annotations

import pytest

from ml.wer import corpus_wer, normalize_text, wer


def test_english_spells_small_numbers_and_abbreviations() -> None:
    assert normalize_text("Mr. Smith ate 2 apples!") == "mister smith ate two apples"
    assert wer("Dr. Who has 3 hearts", "doctor who has three hearts") == 0.0


def test_russian_keeps_digits_and_reads_yo_as_ye() -> None:
    assert normalize_text("Ещё 2 минуты, Ёжик!", "ru") == "еще 2 минуты ежик"
    assert wer("Ещё две минуты", "еще две минуты", "ru") == 0.0
    # an English word for a Russian digit would be a made-up match or miss: digits stay digits
    assert wer("через 5 минут", "через пять минут", "ru") == pytest.approx(1 / 3)


def test_corpus_wer_weighs_by_reference_words() -> None:
    refs, hyps = ["one two three four", "five"], ["one two three four", ""]
    assert corpus_wer(refs, hyps) == pytest.approx(1 / 5)  # not the mean of 0 and 1
