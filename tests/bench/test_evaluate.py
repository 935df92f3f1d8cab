"""``python -m bench.evaluate``: ``ml evaluate``'s options and evaluation, recorded as a benchmark section."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import common
from bench.evaluate import main
from testkit.tiny_data import make_tiny_data

ARGS = ["--no-baselines", "--model", "noisy", "--count", "2", "--seconds", "1"]


@pytest.fixture
def benchmarks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(common, "BENCHMARKS", path)
    return path


def test_records_the_evaluation_in_benchmarks(
    shared: Path, tmp_path: Path, benchmarks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_tiny_data(shared, tmp_path / "data")
    main([*ARGS, "--data-dir", str(data)])
    section = benchmarks.read_text()
    assert "## Denoiser quality (`dev` set)" in section and "| noisy |" in section and "Set `dev`" in section
    assert "Overall (2 mixtures)" in capsys.readouterr().out
    main([*ARGS, "--data-dir", str(data), "--no-record"])
    assert benchmarks.read_text() == section  # --no-record: printed only
