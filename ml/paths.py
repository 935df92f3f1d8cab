"""Where ml's files lie outside the repository: the model cache, exported denoisers, the shared data folder."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml.registry import WEIGHTS_DIR, Registry


class PathSettings(BaseSettings):
    """The paths, read once from the environment (and ``.env``); an empty variable counts as unset.

    ``MODEL_CACHE_DIR``: joined and downloaded model files. ``MODELS_DIR``: an extra folder of exported
    denoisers, beside ``ml/weights``. ``VOICEBOT_SHARED_DIR``: the shared data (speech, noise, DNSMOS models).
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True, populate_by_name=True)

    model_cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "voicebot")
    models_dir: Path | None = None
    shared_dir: Path = Field(
        Path(__file__).resolve().parents[2] / "shared",  # ../shared beside the checkout
        validation_alias=AliasChoices("shared_dir", "voicebot_shared_dir"),
    )

    @property
    def weights_dirs(self) -> tuple[Path, ...]:
        """Where exported denoisers lie: the package's own folder, then ``models_dir`` when set."""
        return (WEIGHTS_DIR, self.models_dir) if self.models_dir else (WEIGHTS_DIR,)

    def registry(self) -> Registry:
        """The model versions these paths hold (nothing is loaded or downloaded)."""
        return Registry(cache_dir=self.model_cache_dir, weights_dirs=self.weights_dirs)


def default_shared() -> Path:
    """The shared data folder: $VOICEBOT_SHARED_DIR, else ../shared beside the checkout."""
    return PathSettings().shared_dir


def dev_transcripts() -> dict[str, str]:
    """File name → reference text for the English dev set."""
    rows = (default_shared() / "data" / "speech" / "dev" / "transcripts.tsv").read_text().splitlines()[1:]
    return dict(row.split("\t", 1) for row in rows if row.strip())
