"""Export: a Lightning or voicebot checkpoint becomes a registered version with a model card and licences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.checkpoint import read_checkpoint, save_checkpoint
from ml.cli import main
from ml.denoisers import TorchDenoiser
from ml.errors import ModelError
from ml.export import DEFAULT_LICENCE, export, load_source
from ml.loader import ModelCache
from ml.registry import Registry
from testkit.checkpoints import tiny_demucs, write_lightning_checkpoint


def test_lightning_checkpoint_exports_registers_and_loads(shared: Path, tmp_path: Path) -> None:
    model = tiny_demucs()
    ckpt = write_lightning_checkpoint(tmp_path / "last.ckpt", model)
    weights = tmp_path / "weights"
    path = export(
        ckpt,
        version="tiny-v1",
        out_dir=weights,
        metrics={"pesq": 1.9, "si_sdr": float("nan")},
        training={"hardware": "2 CPU cores"},
        data_dir=shared / "data",
    )
    assert path == weights / "tiny-v1.pt"
    assert {p.name for p in weights.iterdir()} == {"tiny-v1.pt", "tiny-v1.json", "tiny-v1.md"}

    registry = Registry(cache_dir=tmp_path / "cache", weights_dirs=(weights,))
    version = registry.get("denoiser", "tiny-v1")
    assert version.arch == "demucs" and version.licence == DEFAULT_LICENCE and "7 steps" in version.description
    denoiser = ModelCache(registry).denoiser("tiny-v1")
    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    expected = TorchDenoiser(model, version="original")(audio)
    assert np.abs(denoiser(audio) - expected).max() <= 1e-2 * np.abs(expected).max()  # float16 weights on disk

    data = read_checkpoint(path)
    assert all(v.dtype == torch.float16 for v in data["state"].values() if v.is_floating_point())
    assert data["metrics"] == {"pesq": 1.9} and data["sample_rate"] == 16_000
    assert data["training"]["steps"] == 7 and data["training"]["best_val/pesq"] == 1.5
    assert data["training"]["hardware"] == "2 CPU cores"
    card = (weights / "tiny-v1.md").read_text()
    assert json.loads((weights / "tiny-v1.json").read_text())["card"] == card
    for text in ("speech/train", "noise/train", "CC BY 4.0", "no license stated upstream", "| pesq | 1.900 |"):
        assert text in card
    assert "| `speech/train` | LibriSpeech train-clean-100, one utterance from each speaker | 251 |" in card


def test_voicebot_checkpoint_exports_in_full_precision(shared: Path, tmp_path: Path) -> None:
    model = tiny_demucs(seed=1)
    save_checkpoint(tmp_path / "src.pt", model, arch="demucs")
    path = export(tmp_path / "src.pt", version="tiny-fp32", out_dir=tmp_path, half=False, data_dir=shared / "data")
    loaded = load_source(path)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], value)
    assert "float32" in path.with_suffix(".md").read_text()


def test_size_guard_refuses_and_writes_nothing(shared: Path, tmp_path: Path) -> None:
    ckpt = write_lightning_checkpoint(tmp_path / "best.ckpt", tiny_demucs())
    out = tmp_path / "weights"
    with pytest.raises(ModelError, match=r"over the 0\.01 MB limit; export in half precision"):
        export(ckpt, version="big", out_dir=out, half=False, max_mb=0.01, data_dir=shared / "data")
    with pytest.raises(ModelError, match=r"over the 0\.01 MB limit$"):
        export(ckpt, version="big", out_dir=out, max_mb=0.01, data_dir=shared / "data")
    assert not out.exists()


@pytest.mark.parametrize("name", ["rnnoise", "noisy", "../escape", ""])
def test_bad_version_names_are_refused(name: str, shared: Path, tmp_path: Path) -> None:
    ckpt = write_lightning_checkpoint(tmp_path / "last.ckpt", tiny_demucs())
    with pytest.raises(ModelError, match="bad version name"):
        export(ckpt, version=name, out_dir=tmp_path, data_dir=shared / "data")


def test_other_files_and_a_missing_manifest_are_errors(tmp_path: Path) -> None:
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.ckpt")
    with pytest.raises(ModelError, match="neither a voicebot checkpoint nor a Lightning checkpoint"):
        load_source(tmp_path / "other.ckpt")
    ckpt = write_lightning_checkpoint(tmp_path / "last.ckpt", tiny_demucs())
    with pytest.raises(ModelError, match="must list its training data"):
        export(ckpt, version="v", out_dir=tmp_path / "w", data_dir=tmp_path)


def test_cli_export_measures_the_exported_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = write_lightning_checkpoint(tmp_path / "last.ckpt", tiny_demucs())
    out = tmp_path / "weights"
    argv = ["export", "--checkpoint", str(ckpt), "--version", "cli-v1", "--out-dir", str(out)]
    assert main([*argv, "--metrics-from-eval", "--eval-count", "2", "--hours", "0.5"]) == 0
    card = json.loads((out / "cli-v1.json").read_text())
    assert {"pesq", "stoi", "si_sdr", "rtf"} <= set(card["metrics"]) and card["training"]["hours"] == 0.5
    assert "Measured on the exported file" in card["card"]
    assert "Per SNR bucket" in capsys.readouterr().out
