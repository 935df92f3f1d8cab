"""The GPU pack: ``python -m ml pack-data`` writes Opus that decodes and trains, and refuses an oversized pack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ml.data.codec as codec
from ml.audio import decode_audio
from ml.cli import main
from ml.data.mixer import _decode_folder, load_pools
from tests.ml.test_mixer import make_tiny_data

FOLDERS = {"speech/train": 4, "speech/dev": 2, "noise/train/rain": 1, "noise/train/kitchen": 1, "noise/dev/wind": 1}


def make_source(shared: Path, root: Path) -> Path:
    """Tiny data laid out as ``shared/data``, with its manifest and the DNSMOS models (links)."""
    data = make_tiny_data(shared, root)
    (data / "manifest.tsv").symlink_to(shared / "data" / "manifest.tsv")
    (data / "dnsmos").symlink_to(shared / "data" / "dnsmos")
    return data


@pytest.fixture(scope="module")
def source(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(shared, tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def pack(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packs") / "data-pack"
    assert main(["pack-data", "--out", str(out), "--data-dir", str(source)]) == 0
    return out


def test_pack_holds_opus_that_decodes_to_the_originals(source: Path, pack: Path) -> None:
    data = pack / "data"
    for folder, count in FOLDERS.items():
        coded = sorted((data / folder).iterdir())
        assert [p.name for p in coded] == sorted(p.with_suffix(".opus").name for p in (source / folder).iterdir())
        assert len(coded) == count
        for path in coded:
            original = decode_audio(source / folder / path.with_suffix(".flac").name)
            audio = decode_audio(path)
            assert abs(audio.size - original.size) <= 16  # aligned, as long (within a millisecond)
            size = min(audio.size, original.size)
            correlation = np.corrcoef(audio[:size], original[:size])[0, 1]
            assert correlation > (0.95 if folder.startswith("speech") else 0.8), (path, correlation)
    assert (data / "manifest.tsv").read_bytes() == (source / "manifest.tsv").read_bytes()
    assert sorted(p.name for p in (data / "dnsmos").rglob("*.onnx")) == ["model_v8.onnx", *["sig_bak_ovr.onnx"] * 2]
    assert "python -m ml pack-data" in (pack / "README.txt").read_text()


def test_pack_data_rewrites_and_prints_the_size(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "data-pack"
    assert main(["pack-data", "--out", str(out), "--data-dir", str(source), "--noise-kbps", "32"]) == 0
    (out / "stale.txt").write_text("from an earlier pack")
    assert main(["pack-data", "--out", str(out), "--data-dir", str(source)]) == 0
    assert not (out / "stale.txt").exists() and not (tmp_path / "data-pack.partial").exists()
    assert "24 kb/s" in (out / "README.txt").read_text()
    total = capsys.readouterr().out.strip().splitlines()[-1].split()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert total[:3] == ["total", str(len(files)), "files"]
    assert float(total[3]) == pytest.approx(sum(p.stat().st_size for p in files) / 2**20, abs=0.01)


def test_pack_over_the_limit_is_refused_and_the_earlier_pack_kept(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "data-pack"
    assert main(["pack-data", "--out", str(out), "--data-dir", str(source)]) == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert main(["pack-data", "--out", str(out), "--data-dir", str(source), "--max-mib", "0.5"]) == 1
    assert "over the 0.5 MiB limit" in capsys.readouterr().err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert not (tmp_path / "data-pack.partial").exists()


@pytest.mark.parametrize("pyav", [True, False], ids=["pyav", "soundfile"])
def test_mixer_draws_from_the_pack(pack: Path, pyav: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PyAV (the GPU machine) the pack is read through libsndfile: the same audio, give or take the decoder
    (libopus there, FFmpeg's own here, whose output starts 1-2 samples at 48 kHz later)."""
    monkeypatch.setattr(codec, "have_pyav", lambda: pyav)
    _decode_folder.cache_clear()
    try:
        pools = load_pools(pack / "data", "train")
    finally:
        _decode_folder.cache_clear()
    assert len(pools.speech) == 4 and sorted(pools.noise) == ["kitchen", "rain"]
    reference = decode_audio(sorted((pack / "data" / "speech" / "train").iterdir())[0])
    assert abs(pools.speech[0].size - reference.size) <= 2
    size = min(pools.speech[0].size, reference.size)
    assert np.corrcoef(pools.speech[0][:size], reference[:size])[0, 1] > 0.9


def test_setup_metrics_installs_dnsmos_from_the_pack(
    pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["setup-metrics", "--shared", str(pack)]) == 0
    installed = tmp_path / ".torchmetrics" / "DNSMOS"
    assert {p.relative_to(installed).as_posix() for p in installed.rglob("*.onnx")} == {
        "DNSMOS/model_v8.onnx",
        "DNSMOS/sig_bak_ovr.onnx",
        "pDNSMOS/sig_bak_ovr.onnx",
    }
