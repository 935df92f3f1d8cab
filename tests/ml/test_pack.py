"""The GPU pack: ``python -m ml pack-data`` writes Opus that decodes and trains, refuses an oversized pack, and
``ml/gpu_finetune.sh`` trains and exports from it without PyAV, as on the lent GPU machine (here on the CPU)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import ml.data.codec as codec
from ml.audio import decode_audio
from ml.cli import main
from ml.data.mixer import _decode_folder, load_pools
from testkit.tiny_data import make_tiny_data

REPO = Path(__file__).resolve().parents[2]
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


TINY_RUN = {  # the GPU config on a CPU: one step of tiny batches, then validation and export
    "accelerator": "cpu",
    "threads": 1,
    "batch_size": 2,
    "num_workers": 0,
    "mix.segment_s": 1.0,
    "val_count": 2,
    "val_seconds": 1.0,
    "val_batch_size": 2,
    "audio_count": 1,
    "max_steps": 1,
    "epoch_steps": 1,
}


GPU_RUNS = {  # config, the export's version, AVERAGE (None: the script's default)
    "voice": ("deepfilternet3-gpu", "deepfilternet3-gpu-v1", None),
    # the transcriber's run: from vn1, Whisper's encoder from whisper-pack/, exported as trained
    "transcriber": ("deepfilternet3-whisper-mix-gpu", "deepfilternet3-whisper-v1", ""),
}


@pytest.mark.slow
@pytest.mark.parametrize("run", sorted(GPU_RUNS))
def test_gpu_script_trains_and_exports_without_pyav(pack: Path, tmp_path: Path, run: str) -> None:
    """``ml/gpu_finetune.sh`` in a copy of the repository root holding the pack (and for the transcriber's run
    ``python -m ml pack-whisper``'s encoder), PyAV, faster-whisper and CTranslate2 withheld as on the device."""
    config, version, average = GPU_RUNS[run]
    root = tmp_path / "repo"
    root.mkdir()
    (root / "ml").symlink_to(REPO / "ml")
    shutil.copytree(pack, root / "data-pack")
    if run == "transcriber":
        assert main(["pack-whisper", "--out", str(root / "whisper-pack")]) == 0
    withheld = tmp_path / "withheld"
    withheld.mkdir()
    for module in ("av", "faster_whisper", "ctranslate2"):  # none is on the lent GPU machine
        (withheld / f"{module}.py").write_text(f"raise ImportError('{module} is not installed on the device')\n")
    out = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "SKIP_WHEELS": "1",
        "PYTHONPATH": f"{withheld}{os.pathsep}{REPO}",
        "HOME": str(tmp_path / "home"),
        "OUT": str(out),
        "CONFIG": f"ml/configs/{config}.yaml",
        "VERSION": version,
        "TRAIN_ARGS": " ".join(f"--set {key}={value}" for key, value in TINY_RUN.items()),
    }
    if average is not None:
        env["AVERAGE"] = average
    result = subprocess.run(
        ["bash", str(REPO / "ml" / "gpu_finetune.sh")], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{version}.tar.gz", f"{version}.json", f"{version}.md", "train.log", "tensorboard.tar.gz"]
    )
    assert "step 1 validation:" in (out / "train.log").read_text() and "val/dnsmos_ovrl" in log
    card = json.loads((out / f"{version}.json").read_text())
    assert card["format"] == "voicebot-denoiser/onnx-deepfilternet3" and card["training"]["steps"] == 1
    if run == "voice":
        assert card["training"]["weights_averaged"].startswith("0.5 x these weights")  # WiSE-FT, as the CPU version
    else:
        assert "weights_averaged" not in card["training"]  # AVERAGE set empty: as trained, not mixed with stock
        assert "Whisper-feature loss: whisper-pack encoder" in log
    assert (root / "runs" / config / "checkpoints" / "best.ckpt").is_file()
    with tarfile.open(out / f"{version}.tar.gz") as archive:
        assert sum(name.endswith(".onnx") for name in archive.getnames()) == 3
