"""The Whisper-feature loss: how differently Whisper's encoder (the product's base weights) hears an estimate and
the clean speech; zero for the clean speech itself, larger the more noise is left, differentiable to the waveform,
and never a part of what a denoiser's checkpoint holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench import common, wer_curve
from ml.cli import main
from ml.models import build_model
from ml.paths import PathSettings
from ml.train.losses import EnhancementLoss, WhisperFeatureLoss
from ml.train.run import load_config, train
from ml.whisper_encoder import WhisperEncoder
from testkit.paths import CONFIGS, ROOT
from testkit.speech import dev_speech
from testkit.tiny_data import make_tiny_data


@pytest.fixture(scope="module")
def encoder() -> WhisperEncoder:
    return WhisperEncoder.from_registry(PathSettings().registry(), "base")


@pytest.fixture(scope="module")
def loss(encoder: WhisperEncoder) -> WhisperFeatureLoss:
    return WhisperFeatureLoss(encoder)


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    audio, _ = dev_speech(3.0)
    return torch.from_numpy(audio[: 3 * 16_000].copy())[None]


def with_noise(speech: torch.Tensor, snr_db: float) -> torch.Tensor:
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(speech.shape[-1]).astype(np.float32))[None]
    scale = speech.square().mean().sqrt() / noise.square().mean().sqrt() / 10 ** (snr_db / 20)
    return speech + scale * noise


def test_zero_for_the_clean_speech_and_larger_with_more_noise(loss: WhisperFeatureLoss, speech: torch.Tensor) -> None:
    with torch.no_grad():
        clean = loss(speech, speech).item()
        heard = {snr: loss(with_noise(speech, snr), speech).item() for snr in (20.0, 10.0, 0.0)}
    assert clean < 1e-10
    assert 0 < heard[20.0] < heard[10.0] < heard[0.0], heard


def test_gradients_reach_the_estimate_and_whisper_stays_out(loss: WhisperFeatureLoss, speech: torch.Tensor) -> None:
    estimate = with_noise(speech, 5.0).requires_grad_(True)
    loss(estimate, speech).backward()
    assert estimate.grad is not None and estimate.grad.abs().sum() > 0
    assert list(loss.parameters()) == [] and loss.state_dict() == {}  # a checkpoint carries no Whisper
    total = EnhancementLoss(whisper=loss, whisper_weight=0.5)
    value, parts = total(with_noise(speech, 5.0), speech)
    assert set(parts) == {"l1", "stft_sc", "stft_mag", "whisper"}
    expected = parts["l1"] + 0.5 * (parts["stft_sc"] + parts["stft_mag"]) + 0.5 * parts["whisper"]
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)


def test_on_the_mix_whisper_hears_the_estimate_with_the_noisy_input_added_back(
    encoder: WhisperEncoder, loss: WhisperFeatureLoss, speech: torch.Tensor
) -> None:
    """The transcriber's model is judged on what the pipeline's mix strategy lets Whisper hear."""
    on_mix = WhisperFeatureLoss(encoder, mix=0.3)
    noisy, estimate = with_noise(speech, 0.0), with_noise(speech, 10.0)
    with torch.no_grad():
        assert on_mix(estimate, speech, noisy).item() == pytest.approx(
            loss(0.7 * estimate + 0.3 * noisy, speech).item(), rel=1e-5
        )
        perfect = on_mix(speech, speech, noisy).item()  # a perfect estimate still carries the noise added back
        assert 0 < perfect < loss(noisy, speech).item()
    total = EnhancementLoss(whisper=on_mix, whisper_weight=1.0)
    _, parts = total(estimate[:, None], speech, noisy[:, None])  # shaped as the training step's batches
    assert parts["whisper"].item() == pytest.approx(on_mix(estimate, speech, noisy).item(), rel=1e-5)
    with pytest.raises(ValueError, match="noisy"):
        on_mix(estimate, speech)


def test_smoke_fine_tune_of_vn1_with_the_whisper_feature_loss(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two steps of DeepFilterNet3 from the shipped deepfilternet3-vn1 with the Whisper-feature loss beside the
    spectral ones (heard on the mix, as the transcriber's config does), on tiny data, the encoder read from
    ``python -m ml pack-whisper``'s file as on a lent GPU machine: every step computes it, the weights move, the
    checkpoint holds no Whisper."""
    data = make_tiny_data(shared, tmp_path / "data")
    assert main(["pack-whisper", "--out", str(tmp_path / "whisper-pack")]) == 0
    cfg = load_config(  # the shipped fine-tune config, smoke-sized
        CONFIGS / "deepfilternet3.yaml",
        name="smoke-whisper",
        init_from=str(ROOT / "ml" / "weights" / "deepfilternet3-vn1.tar.gz"),
        whisper_feature_weight=1.0,
        whisper_feature_mix=0.3,  # as the transcriber's config: Whisper hears the mix
        whisper_feature_model=str(tmp_path / "whisper-pack"),
        batch_size=2,
        max_steps=2,
        epoch_steps=2,
        val_count=2,
        val_seconds=1.0,
        val_batch_size=2,
        val_at_start=False,
        audio_every_epochs=0,
        log_every_steps=1,
        threads=2,
        clearml=False,
        runs_dir=str(tmp_path / "runs"),
        data_dir=str(data),
        dnsmos=False,
        **{"mix.segment_s": 1.0, "mix.p_opus": 0.0},
    )
    seen: list[dict[str, float]] = []
    original = EnhancementLoss.forward

    def recording(
        self: EnhancementLoss, estimate: torch.Tensor, target: torch.Tensor, noisy: torch.Tensor | None = None
    ) -> Any:
        total, parts = original(self, estimate, target, noisy)
        if torch.is_grad_enabled():  # a training step, not validation
            seen.append({name: float(value) for name, value in parts.items()})
        return total, parts

    monkeypatch.setattr(EnhancementLoss, "forward", recording)

    def not_the_registry(*args: object) -> WhisperEncoder:
        raise AssertionError("the encoder was to come from the packed file")

    monkeypatch.setattr(WhisperEncoder, "from_registry", not_the_registry)
    start = build_model(cfg.arch, cfg.model)
    from ml.train.run import _init_weights

    _init_weights(start, cfg.arch, str(cfg.init_from))
    last = train(cfg)
    assert len(seen) == 2 and all(0 < step["whisper"] < 10 for step in seen), seen
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    assert all(key.startswith("model.") for key in state), [k for k in state if not k.startswith("model.")][:5]
    before = start.state_dict()
    moved = [name for name, value in before.items() if not torch.equal(state[f"model.{name}"], value)]
    assert moved, "the fine-tune changed no weight"


def test_the_smoke_fine_tune_has_a_wer_curve(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bench.wer_curve`` exports a run's checkpoint as shipped and puts Whisper's WER on its output beside the
    untouched notes and the shipped denoiser."""
    data = make_tiny_data(shared, tmp_path / "data")
    cfg = load_config(
        CONFIGS / "deepfilternet3.yaml", name="smoke-curve", init_from=str(ROOT / "ml" / "weights" /
        "deepfilternet3-vn1.tar.gz"), batch_size=2, max_steps=1, epoch_steps=1, val_count=2, val_seconds=1.0,
        val_batch_size=2, val_at_start=False, audio_every_epochs=0, threads=2, clearml=False,
        runs_dir=str(tmp_path / "runs"), data_dir=str(data), dnsmos=False, **{"mix.segment_s": 1.0, "mix.p_opus": 0.0},
    )  # fmt: skip
    last = train(cfg)
    benchmarks = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(common, "BENCHMARKS", benchmarks)
    wer_curve.main([str(last), "--limit", "1", "--snrs", "10"])
    rows = [line for line in benchmarks.read_text().splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in rows[1:]] == ["untouched note", "deepfilternet3-vn1", "step 1"]
    assert all(0 <= float(row.split("|")[2]) <= 2 for row in rows[1:]), rows
    wer_curve.main([str(last), "--limit", "1", "--snrs", "10", "--mix", "0.3", "--no-record"])  # what Whisper hears
    printed = capsys.readouterr().out  # of the transcriber's model: its output with 0.3 of the note added back
    assert "with 0.3 of the untouched note added back (the `mix` strategy)" in printed
    assert "| step 1 |" in printed
