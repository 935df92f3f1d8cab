"""The word lists users and settings choose from are written once (``core.choices``: strengths and transcription
languages; ``ml.strategies``: what Whisper hears) and everything else imports them; each word means what it says."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.choices import STRENGTHS, TRANSCRIBE_LANGUAGES, limit_db
from core.settings import Settings
from ml.pipeline import MIX_RATIO
from ml.strategies import STRATEGIES
from voicebot import wiring

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bench", "bot", "core", "ml", "testkit", "voicebot", "web", "worker")  # not the tests: they list answers
LISTS = {
    "strengths": (STRENGTHS, "core/choices.py"),
    "transcription languages": (TRANSCRIBE_LANGUAGES, "core/choices.py"),
    "strategies": (STRATEGIES, "ml/strategies.py"),
}


def _word_collections(path: Path) -> Iterator[set[str]]:
    """The strings of each tuple, list, set, dict's keys and ``Literal[...]`` in a Python file; all the quoted
    words of a template or script."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        yield set(re.findall(r"[\"']([^\"'\n]*)[\"']", text))
        return
    for node in ast.walk(ast.parse(text)):
        items: list[ast.expr | None] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        yield {item.value for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str)}


def holders(words: tuple[str, ...], root: Path = ROOT) -> set[str]:
    """The source files that spell out ``words``, or all of them but one, in one collection."""
    files = sorted(p for folder in SOURCES for p in (root / folder).rglob("*") if p.suffix in (".py", ".html", ".js"))
    return {
        path.relative_to(root).as_posix()
        for path in files
        if any(len(set(words) & found) >= len(words) - 1 for found in _word_collections(path))
    }


@pytest.mark.parametrize("name", LISTS)
def test_each_word_list_is_written_once(name: str) -> None:
    words, home = LISTS[name]
    assert holders(words) == {home}


def test_each_strength_means_an_attenuation_limit() -> None:
    assert STRENGTHS[0] == "strong"  # strongest first: the order the pages list and the bot's button steps through
    assert [limit_db(word) for word in STRENGTHS] == [None, 20.0, 0.0]
    settings = Settings(_env_file=None)
    assert wiring.pipeline_options(settings).limit_db is None  # DENOISER_STRENGTH=strong: no limit
    assert wiring.pipeline_options(settings, strength="gentle").limit_db == 20.0
    off = wiring.pipeline_options(settings, strength="off")
    assert off.limit_db == 0.0 and not off.denoise  # nothing may be taken away: the denoiser does not run
    with pytest.raises(ValueError, match="strong, gentle, off"):
        limit_db("loud")


def test_settings_take_only_known_words() -> None:
    with pytest.raises(ValidationError, match="strong, gentle, off"):
        Settings(_env_file=None, denoiser_strength="loud")
    assert Settings(_env_file=None, denoiser_strength="gentle").denoiser_strength == "gentle"
    # core cannot know the pipeline's words: the composition root checks them
    settings = Settings(_env_file=None, transcribe_strategy="loudest")
    with pytest.raises(ValueError, match="original, denoised, mix, best, auto"):
        wiring.transcribe_strategy(settings)
    assert wiring.pipeline_options(Settings(_env_file=None, transcribe_strategy="mix")).strategy == "mix"


def test_the_mix_ratio_is_the_pipelines_unless_set() -> None:
    assert wiring.pipeline_options(Settings(_env_file=None)).mix_ratio == MIX_RATIO
    assert wiring.pipeline_options(Settings(_env_file=None, mix_ratio=0.5)).mix_ratio == 0.5
    assert wiring.pipeline_options(Settings(_env_file=None, mix_ratio=0.0)).mix_ratio == 0.0  # set, though falsy


def test_the_command_refuses_an_unknown_strategy_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "TRANSCRIBE_STRATEGY": "loudest"}
    result = subprocess.run([sys.executable, "-m", "voicebot", "models"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert "bad configuration: TRANSCRIBE_STRATEGY must be one of original, denoised, mix, best, auto" in result.stderr


def test_every_bad_setting_is_named_with_its_problem_and_not_its_value(tmp_path: Path) -> None:
    env = {**os.environ, "WHISPER_THREADS": "0", "MAX_FILE_MB": "lots", "TELEGRAM_BOT_TOKEN": "secret-token-value"}
    result = subprocess.run([sys.executable, "-m", "voicebot", "models"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    assert "WHISPER_THREADS: Input should be greater than or equal to 1" in result.stderr
    assert "MAX_FILE_MB: Input should be a valid number" in result.stderr
    assert "lots" not in result.stderr and "secret-token-value" not in result.stderr
