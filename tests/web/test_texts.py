"""The web page's catalogue (and the bot's): every text in every language with the same values to fill, and a text
for every choice and stage."""

from __future__ import annotations

import re
import string
from typing import get_args

import pytest

import web.texts
from core.choices import STRENGTHS, TRANSCRIBE_LANGUAGES
from core.texts import LANGUAGES, TEXTS
from ml.pipeline import Stage
from web.texts import PAGE, SCRIPT, Section

# every section of the web page's catalogue, found by its shape: key → language → text
SECTIONS: dict[str, Section] = {
    name: value
    for name, value in vars(web.texts).items()
    if name.isupper() and isinstance(value, dict) and all(isinstance(v, dict) for v in value.values())
}
CATALOGUES = {**{f"web.texts.{name}": section for name, section in SECTIONS.items()}, "core.texts.TEXTS": TEXTS}


def _fields(text: str) -> set[str]:
    """The values a text takes: ``{name}`` (``str.format``) and ``$name`` (``string.Template``)."""
    formatted = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return formatted | set(re.findall(r"\$(\w+)", text))


def test_the_catalogue_has_its_sections() -> None:
    assert set(SECTIONS) == {"PAGE", "SCRIPT", "ERRORS", "FAILURES", "ADMIN"}


@pytest.mark.parametrize("catalogue", CATALOGUES)
def test_every_text_is_in_every_language_with_the_same_values(catalogue: str) -> None:
    for key, texts in CATALOGUES[catalogue].items():
        assert set(texts) == set(LANGUAGES), f"{catalogue}[{key!r}] has {sorted(texts)}, not {sorted(LANGUAGES)}"
        assert all(text.strip() for text in texts.values()), f"{catalogue}[{key!r}] has an empty text"
        fields = {lang: _fields(text) for lang, text in texts.items()}
        assert len({frozenset(f) for f in fields.values()}) == 1, f"{catalogue}[{key!r}] fills {fields}"


def test_the_russian_texts_are_russian() -> None:
    """A text copied over untranslated would pass the test above: the page's Russian speaks Cyrillic."""
    for section in SECTIONS.values():
        for key, texts in section.items():
            if key != "language_name":  # each language names itself
                assert re.search("[а-яё]", texts["ru"], re.IGNORECASE), (key, texts["ru"])


def test_every_choice_and_stage_has_its_text() -> None:
    for word in STRENGTHS:
        assert f"strength_{word}" in PAGE and f"strength_{word}" in TEXTS
    for code in TRANSCRIBE_LANGUAGES:
        assert f"language_{code}" in PAGE
    for stage in (*get_args(Stage), "drawing"):  # the pipeline's stages, and the web job's own last one
        assert f"stage_{stage}" in SCRIPT
