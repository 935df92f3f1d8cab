"""ml's paths: one settings object reads MODEL_CACHE_DIR, MODELS_DIR and VOICEBOT_SHARED_DIR."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.paths import PathSettings, default_shared
from ml.registry import WEIGHTS_DIR

VARIABLES = ("MODEL_CACHE_DIR", "MODELS_DIR", "VOICEBOT_SHARED_DIR")


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No path variable set, and a working directory of the test's own (where a ``.env`` may be written)."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults(clean_env: Path) -> None:
    paths = PathSettings()
    assert paths.model_cache_dir == Path.home() / ".cache" / "voicebot" and paths.models_dir is None
    assert paths.shared_dir == Path(__file__).resolve().parents[3] / "shared"  # ../shared beside the checkout
    assert paths.weights_dirs == (WEIGHTS_DIR,)


def test_the_environment_sets_them_and_an_empty_variable_is_unset(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_CACHE_DIR", str(clean_env / "cache"))
    monkeypatch.setenv("MODELS_DIR", str(clean_env / "models"))
    monkeypatch.setenv("VOICEBOT_SHARED_DIR", str(clean_env / "shared"))
    paths = PathSettings()
    assert (paths.model_cache_dir, paths.models_dir) == (clean_env / "cache", clean_env / "models")
    assert paths.shared_dir == default_shared() == clean_env / "shared"
    assert paths.weights_dirs == (WEIGHTS_DIR, clean_env / "models")
    registry = paths.registry()
    assert registry.cache_dir == clean_env / "cache"
    monkeypatch.setenv("MODELS_DIR", "")
    monkeypatch.setenv("VOICEBOT_SHARED_DIR", "")
    assert PathSettings().models_dir is None and default_shared() == PathSettings.model_fields["shared_dir"].default


def test_a_dot_env_file_is_read_as_the_app_reads_it(clean_env: Path) -> None:
    (clean_env / ".env").write_text(f"MODELS_DIR={clean_env / 'models'}\nTELEGRAM_BOT_TOKEN=123:abc\n")
    assert PathSettings().models_dir == clean_env / "models"  # the app's other variables are not ml's business


def test_values_given_win_over_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``voicebot.wiring`` builds them from the app's settings."""
    monkeypatch.setenv("MODEL_CACHE_DIR", str(clean_env / "env-cache"))
    monkeypatch.setenv("MODELS_DIR", str(clean_env / "env-models"))
    paths = PathSettings(model_cache_dir=clean_env / "cache", models_dir=None)
    assert (paths.model_cache_dir, paths.weights_dirs) == (clean_env / "cache", (WEIGHTS_DIR,))
