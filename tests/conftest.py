"""Fixtures shared by every test: the shared data folder and a real noisy voice note."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from ml.audio import encode_voice
from ml.paths import default_shared
from testkit.speech import noisy_speech

DEFAULT_DENOISER: str = Settings.model_fields["denoiser_version"].default  # what a user gets unless told


@pytest.fixture(scope="session")
def shared() -> Path:
    path = default_shared()
    if not (path / "data" / "speech" / "dev").is_dir():
        pytest.fail(f"shared data not found at {path}; set VOICEBOT_SHARED_DIR")
    return path


@pytest.fixture(scope="session")
def noisy_note_30s(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """A ~30 s English voice note (OGG/Opus) with kitchen noise at 5 dB SNR: (path, reference, seconds)."""
    noisy, text, _ = noisy_speech(30.0, snr_db=5.0)
    path = tmp_path_factory.mktemp("notes") / "noisy_30s.ogg"
    path.write_bytes(encode_voice(noisy))
    return path, text, noisy.size / 16_000
