"""DeepFilterNet3 in PyTorch: the released ONNX weights convert into it and back, and it fine-tunes and exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ml.deepfilternet as dfn
from ml.audio import FULL_BAND_RATE, resample
from ml.cli import main
from ml.dfnet3_weights import load_state, write_archive
from ml.errors import ModelError
from ml.export import export
from ml.loader import ModelCache
from ml.models.deepfilternet3 import DeepFilterNet3Net
from ml.registry import Registry
from ml.train.run import load_config, train
from testkit.paths import CONFIGS
from testkit.speech import noisy_speech
from testkit.tiny_data import make_tiny_data

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def note() -> np.ndarray:
    """Six seconds of real speech in real-sounding noise at 48 kHz (one inference block)."""
    noisy, _, _ = noisy_speech(6.0, snr_db=5.0)
    return resample(noisy, 16_000, FULL_BAND_RATE)


@pytest.fixture(scope="module")
def onnx_model() -> dfn.DeepFilterNet3:
    return dfn.DeepFilterNet3(threads=2)


@pytest.fixture(scope="module")
def released() -> DeepFilterNet3Net:
    model = DeepFilterNet3Net(sample_rate=FULL_BAND_RATE)
    load_state(dfn.model_archive(), model.net)
    return model.eval()


def run(model: DeepFilterNet3Net, audio: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(audio)[None])[0, 0].numpy()


def test_released_weights_compute_what_the_onnx_graphs_compute(
    note: np.ndarray, onnx_model: dfn.DeepFilterNet3, released: DeepFilterNet3Net
) -> None:
    spec = dfn.Stft().analysis(np.pad(note, (0, -note.size % dfn.HOP)), np.zeros(dfn.HOP, np.float32))
    feat_erb, feat_spec = dfn.Features(onnx_model.widths)(spec)
    gains, coefs = onnx_model.gains_and_coefs(feat_erb, feat_spec)
    with torch.no_grad():
        torch_gains, torch_coefs = released.net(torch.from_numpy(feat_erb), torch.from_numpy(feat_spec))
    torch_coefs = torch_coefs[0].numpy().reshape((*coefs.shape, 2))
    assert np.abs(torch_gains[0, 0].numpy() - gains).max() < TOLERANCE
    assert np.abs(torch_coefs[..., 0] + 1j * torch_coefs[..., 1] - coefs).max() < TOLERANCE
    # and the whole enhancement, signal processing included, sample for sample
    expected = onnx_model(note)
    assert np.abs(run(released, note) - expected).max() < TOLERANCE
    assert np.abs(expected).max() > 0.05  # a real note came out, not silence


def test_changed_weights_fold_back_into_the_graphs(
    note: np.ndarray, released: DeepFilterNet3Net, tmp_path: Path
) -> None:
    """What fine-tuning changes (every weight, batch norm's scale and shift too) reaches the exported graphs."""
    model = DeepFilterNet3Net(sample_rate=FULL_BAND_RATE)
    model.load_state_dict(released.state_dict())
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(1 + 0.05 * torch.randn(parameter.shape, generator=generator))
    model.eval()
    archive = write_archive(model.net, dfn.model_archive(), tmp_path / "tuned.tar.gz")
    exported = dfn.DeepFilterNet3(archive, threads=2)(note)
    assert np.abs(exported - run(model, note)).max() < TOLERANCE
    assert np.abs(exported - run(released, note)).max() > 100 * TOLERANCE  # the change is there


def test_training_keeps_batch_norm_statistics_and_any_length() -> None:
    model = DeepFilterNet3Net().train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(norm.training for norm in norms)
    for length in (1, 479, 16_001):
        assert model(torch.randn(2, length) * 0.1).shape == (2, 1, length)


def test_smoke_fine_tuning_exports_a_version_the_product_runs(
    shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A few steps from the released weights on tiny data, then export: the registry lists the version and the
    denoiser it loads (ONNX Runtime at 48 kHz) computes what the fine-tuned PyTorch model computes."""
    data = make_tiny_data(shared, tmp_path / "data")
    overrides = {
        "runs_dir": str(tmp_path / "runs"),
        "data_dir": str(data),
        "dnsmos": False,
        "clearml": False,
        "batch_size": 2,
        "val_count": 2,
        "val_batch_size": 2,
        "val_seconds": 1.0,
        "max_steps": 2,
        "epoch_steps": 2,
        "threads": 1,
        "mix.segment_s": 1.0,
        "optim.warmup_steps": 0,
        "optim.lr": 1e-4,
    }
    last = train(load_config(CONFIGS / "deepfilternet3.yaml", **overrides))
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 2 and state["denoiser"]["arch"] == "deepfilternet3"
    tuned = {k.removeprefix("model."): v for k, v in state["state_dict"].items() if k.startswith("model.")}
    start = DeepFilterNet3Net()
    load_state(dfn.model_archive(), start.net)  # the run's starting point: the released weights
    assert set(start.state_dict()) == set(tuned)
    assert any(not torch.equal(v, tuned[k]) for k, v in start.state_dict().items())  # two steps changed them
    capsys.readouterr()  # what training printed
    # the learning curve starts with the released weights' scores (validation before the first step)
    assert main(["curve", str(tmp_path / "runs" / "deepfilternet3"), "--plot", str(tmp_path / "curve.png")]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| step | pesq | stoi | si_sdr |") and "\n| 0 | " in table and "\n| 2 | " in table
    assert (tmp_path / "curve.png").stat().st_size > 1000

    weights = tmp_path / "weights"
    path = export(last, version="dfn3-smoke", out_dir=weights, data_dir=shared / "data")
    assert path == weights / "dfn3-smoke.tar.gz" and path.stat().st_size < 40e6
    card = (weights / "dfn3-smoke.md").read_text()
    for text in ("Starting weights: DeepFilterNet3", "MIT OR Apache-2.0", "CC BY 4.0", "steps: 2", "hardware"):
        assert text in card
    registry = Registry(cache_dir=tmp_path / "cache", weights_dirs=(weights,))
    assert registry.get("denoiser", "dfn3-smoke").arch == "deepfilternet3"
    denoiser = ModelCache(registry).denoiser("dfn3-smoke")
    assert denoiser.sample_rate == FULL_BAND_RATE
    audio, _, _ = noisy_speech(2.0, snr_db=5.0)
    audio = resample(audio, 16_000, FULL_BAND_RATE)
    model = DeepFilterNet3Net(sample_rate=FULL_BAND_RATE)
    model.load_state_dict(tuned)
    assert np.abs(denoiser(audio) - run(model.eval(), audio)).max() < TOLERANCE

    # exported as the average of the trained and the released weights (WiSE-FT)
    path = export(last, version="dfn3-half", out_dir=weights, data_dir=shared / "data", average=0.5)
    assert "weights_averaged: 0.5 x these weights + 0.5 x the released ones" in (weights / "dfn3-half.md").read_text()
    start_state = start.state_dict()
    model.load_state_dict({k: (v + start_state[k]) / 2 if v.is_floating_point() else v for k, v in tuned.items()})
    averaged = dfn.DeepFilterNet3(path)(audio)
    assert np.abs(averaged - run(model.eval(), audio)).max() < TOLERANCE
    with pytest.raises(ModelError, match="share"):
        export(last, version="dfn3-bad", out_dir=weights, data_dir=shared / "data", average=1.5)
