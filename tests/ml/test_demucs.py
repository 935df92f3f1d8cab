"""Demucs: the published checkpoint layout loads unchanged; chunked inference equals whole-file inference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.checkpoint import load_model, save_checkpoint
from ml.denoisers import TorchDenoiser
from ml.errors import ModelError
from ml.models.demucs import Demucs
from testkit.checkpoints import published_layout


@pytest.mark.parametrize("hidden", [48, 64])
def test_published_state_dict_loads_unchanged(hidden: int, tmp_path: Path) -> None:
    layout = published_layout(hidden)
    generator = torch.Generator().manual_seed(hidden)
    state = {k: torch.randn(shape, generator=generator) * 0.01 for k, shape in layout.items()}
    path = tmp_path / f"dns{hidden}.th"
    torch.save(state, path)  # a bare state dict, as the published files are

    model, _ = load_model(path, arch="demucs", config={"hidden": hidden})
    loaded = model.state_dict()
    assert set(loaded) == set(layout)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key
    out = model(torch.randn(1, 16_000))
    assert out.shape == (1, 1, 16_000)


def test_wrong_shapes_are_a_model_error(tmp_path: Path) -> None:
    layout = published_layout(48)
    state = {k: torch.zeros(shape) for k, shape in layout.items()}
    path = tmp_path / "dns48.th"
    torch.save(state, path)
    with pytest.raises(ModelError, match="does not fit"):
        load_model(path, arch="demucs", config={"hidden": 64})


def test_valid_length_loses_no_sample() -> None:
    model = Demucs(hidden=8)
    for length in (1, 100, 16_000, 16_001, 48_123):
        valid = model.valid_length(length)
        assert valid >= length
        assert model(torch.randn(1, length)).shape[-1] == length


def test_causal_output_ignores_the_far_future() -> None:
    torch.manual_seed(0)
    model = Demucs(hidden=8, causal=True, normalize=False).eval()
    x = torch.randn(1, 1, 32_000)
    y = x.clone()
    y[..., 24_000:] = torch.randn(1, 1, 8_000)
    with torch.no_grad():
        a, b = model(x), model(y)
    # only the sinc resampler and the kernel look ahead, by a few milliseconds; nothing from 0.5 s later leaks
    assert torch.allclose(a[..., :16_000], b[..., :16_000], atol=1e-6)


def test_bidirectional_variant_has_projection() -> None:
    model = Demucs(hidden=8, causal=False)
    assert "lstm.linear.weight" in model.state_dict()


def test_checkpoint_round_trip_in_half_precision(tmp_path: Path) -> None:
    model = Demucs(hidden=16).eval()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, arch="demucs", metrics={"pesq": 3.0}, card="test", half=True)
    loaded, meta = load_model(path)
    assert meta["metrics"]["pesq"] == 3.0 and meta["config"]["hidden"] == 16
    x = torch.randn(1, 8000)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=5e-3)


def test_chunked_inference_matches_whole_file() -> None:
    torch.manual_seed(1)
    model = Demucs(hidden=16)
    audio = np.random.default_rng(0).standard_normal(16_000 * 7).astype(np.float32) * 0.1
    whole = TorchDenoiser(model, version="t", chunk_s=60.0)(audio)
    chunked = TorchDenoiser(model, version="t", chunk_s=2.0, overlap_s=0.5)(audio)
    assert chunked.shape == audio.shape
    assert np.abs(whole - chunked).max() < 0.05 * np.abs(whole).max()


def test_a_zero_db_limit_returns_the_input() -> None:
    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    out = TorchDenoiser(Demucs(hidden=8), version="t")(audio, limit_db=0.0)
    np.testing.assert_allclose(out, audio, atol=1e-6)
