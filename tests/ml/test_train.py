"""Training: the new architectures keep any length; a few CPU steps run, checkpoint and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ml.checkpoint import load_model, save_checkpoint
from ml.cli import parse_overrides
from ml.denoisers import TorchDenoiser
from ml.export import load_source
from ml.metrics import dnsmos_available
from ml.models import ARCHITECTURES, build_model
from ml.train.losses import EnhancementLoss
from ml.train.optim import OptimConfig
from ml.train.run import load_config, train
from ml.train.system import EnhancementSystem
from testkit.paths import CONFIGS
from testkit.tiny_data import make_tiny_data

SMALL = {"waveunet": {"depth": 4, "channels": 8}, "gatewave": {"hidden": 8, "depth": 3, "bottleneck_blocks": 2}}


@pytest.mark.parametrize("arch", sorted(SMALL))
@pytest.mark.parametrize("length", [1, 257, 16_001])
def test_any_length_in_is_that_length_out(arch: str, length: int) -> None:
    model = build_model(arch, SMALL[arch]).eval()
    x = torch.randn(2, length)
    with torch.no_grad():
        assert model(x).shape == (2, 1, length)
        assert model(x.unsqueeze(1)).shape == (2, 1, length)
        assert model.enhance_normalized(x.unsqueeze(1)).shape == (2, 1, length)


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_forward_is_enhance_normalized_at_unit_std(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(arch, SMALL[arch]).eval()
    x = torch.randn(1, 1, 8000) * 0.05
    std = x.std(correction=0)
    with torch.no_grad():
        direct = model(x)
        scaled = model.enhance_normalized(x / (std + model.config["floor"])) * std
    assert torch.allclose(direct, scaled, atol=1e-6)


@pytest.mark.parametrize("arch", sorted(SMALL))
def test_checkpoint_round_trip_and_chunked_inference(arch: str, tmp_path: Path) -> None:
    model = build_model(arch, SMALL[arch]).eval()
    save_checkpoint(tmp_path / "m.pt", model, arch=arch)
    loaded, meta = load_model(tmp_path / "m.pt")
    assert meta["arch"] == arch and type(loaded) is ARCHITECTURES[arch]
    audio = np.random.default_rng(0).standard_normal(16_000 * 3).astype(np.float32) * 0.1
    out = TorchDenoiser(loaded, version="t", chunk_s=1.0, overlap_s=0.25)(audio)
    assert out.shape == audio.shape and np.isfinite(out).all()


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread avoids contention with whatever else runs
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["demucs", "waveunet", "gatewave", "deepfilternet3", "deepfilternet3-gpu", "smoke"])
def test_shipped_configs_build_and_run(name: str, one_thread: None) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name and cfg.run_dir == Path("runs") / name
    model = build_model(cfg.arch, cfg.model).eval()
    loss = EnhancementLoss(
        l1=cfg.l1_weight, stft_sc=cfg.stft_sc_weight, stft_mag=cfg.stft_mag_weight, resolutions=cfg.loss_resolutions
    )
    with torch.no_grad():
        total, parts = loss(model(torch.randn(1, 4000)), torch.randn(1, 4000))
    assert set(parts) == {"l1", "stft_sc", "stft_mag"} and torch.isfinite(total)


def test_unknown_config_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"arch": "demucs", "learning_rate": 0.1}))
    with pytest.raises(ValueError, match="learning_rate"):
        load_config(path)
    path.write_text(yaml.safe_dump({"arch": "demucs", "lr": 0.1, "mix": {"snr": [0, 5]}}))
    with pytest.raises(ValueError, match=r"unknown keys lr \(lr belongs under optim:\)"):
        load_config(path)
    path.write_text(yaml.safe_dump({"arch": "demucs", "mix": {"snr": [0, 5]}}))
    with pytest.raises(ValueError, match=r"mix\.unknown keys snr|unknown keys snr"):
        load_config(path)


def test_set_overrides_config_keys_and_sections_and_refuses_unknown_ones() -> None:
    overrides = parse_overrides(["name=gatewave-v2", "optim.lr=3e-4", "mix.snr_db=[0, 10]", "max_steps=14000"])
    cfg = load_config(CONFIGS / "gatewave.yaml", **overrides)
    assert (cfg.name, cfg.optim.lr, cfg.mix.snr_db, cfg.max_steps) == ("gatewave-v2", 3e-4, (0, 10), 14000)
    assert cfg.optim.decay_steps == 8500 and cfg.mix.level_db == (-40, -15)  # the rest of each section stays
    assert cfg.run_dir == Path("runs") / "gatewave-v2"
    assert load_config(CONFIGS / "gatewave.yaml", optim={"lr": 1e-4}).optim == replace(cfg.optim, lr=1e-4)
    with pytest.raises(ValueError, match="learning_rate"):
        load_config(CONFIGS / "gatewave.yaml", **parse_overrides(["optim.learning_rate=1"]))
    with pytest.raises(ValueError, match="lr belongs under optim"):
        load_config(CONFIGS / "gatewave.yaml", **parse_overrides(["lr=1"]))
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        parse_overrides(["lr"])


def test_warmup_then_cosine_decay() -> None:
    optim = OptimConfig(lr=1e-3, warmup_steps=10, decay_steps=110, min_lr=1e-5)
    assert optim.factor(0) == pytest.approx(0.1) and optim.factor(9) == pytest.approx(1.0)
    assert optim.factor(60) == pytest.approx(0.505, abs=1e-3)
    assert optim.factor(110) == optim.factor(10_000) == pytest.approx(0.01)


def test_smoke_training_checkpoints_and_resumes(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_tiny_data(shared, tmp_path / "data")
    runs = tmp_path / "runs"
    cfg = load_config(CONFIGS / "smoke.yaml", runs_dir=str(runs), data_dir=str(data), dnsmos=dnsmos_available())
    steps_run = 0
    original = EnhancementSystem.training_step

    def counting(self: EnhancementSystem, *args: object) -> torch.Tensor:
        nonlocal steps_run
        steps_run += 1
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(EnhancementSystem, "training_step", counting)
    last = train(cfg)
    assert last == runs / "smoke" / "checkpoints" / "last.ckpt"
    first = torch.load(last, map_location="cpu", weights_only=False)
    assert first["global_step"] == cfg.max_steps == steps_run
    assert first["denoiser"]["arch"] == "demucs" and first["denoiser"]["config"]["hidden"] == 8
    assert (last.parent / "best.ckpt").exists()  # validation ran and reported PESQ
    assert list((runs / "smoke" / "tensorboard").glob("events.out.tfevents.*"))

    steps_run = 0
    train(load_config(CONFIGS / "smoke.yaml", runs_dir=str(runs), data_dir=str(data), dnsmos=False, max_steps=5))
    resumed = torch.load(last, map_location="cpu", weights_only=False)
    assert resumed["global_step"] == 5 and steps_run == 2  # continued from step 3, did not start over
    assert not torch.equal(
        resumed["state_dict"]["model.encoder.0.0.weight"], first["state_dict"]["model.encoder.0.0.weight"]
    )
    clock, clock_before = resumed["callbacks"]["TrainingClock"], first["callbacks"]["TrainingClock"]
    assert clock["seconds"] > clock_before["seconds"] > 0  # the second session's time adds to the first's
    assert clock["machines"] == clock_before["machines"] and "CPU" in clock["machines"][0]
    recorded = load_source(last).training
    assert recorded["hours"] == round(clock["seconds"] / 3600, 2) and recorded["hardware"] == clock["machines"][0]


def test_sigterm_saves_the_last_step(shared: Path, tmp_path: Path) -> None:
    """A machine or container stopping sends SIGTERM to the trainer and its data workers alike: the run keeps
    the step it reached."""
    data = make_tiny_data(shared, tmp_path / "data")
    runs, log = tmp_path / "runs", tmp_path / "train.log"
    command = [sys.executable, "-m", "ml", "train", "--config", str(CONFIGS / "smoke.yaml")]
    for key, value in {"runs_dir": runs, "data_dir": data, "max_steps": 100_000, "val_every_epochs": 1000}.items():
        command += ["--set", f"{key}={value}"]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while " step 3 " not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGTERM)  # as a stopping container or session does: every process
        process.wait(timeout=60)
    last = runs / "smoke" / "checkpoints" / "last.ckpt"
    assert last.exists(), log.read_text()[-2000:]
    step = torch.load(last, map_location="cpu", weights_only=False)["global_step"]
    assert 3 <= step < 100_000 and f"stopped by SIGTERM at step {step}" in log.read_text()


def test_a_new_run_starts_from_exported_weights(shared: Path, tmp_path: Path) -> None:
    data = make_tiny_data(shared, tmp_path / "data")
    cfg = load_config(CONFIGS / "smoke.yaml", runs_dir=str(tmp_path / "runs"), data_dir=str(data), dnsmos=False)
    start = build_model(cfg.arch, cfg.model)
    with torch.no_grad():
        for parameter in start.parameters():
            parameter.fill_(0.01)
    save_checkpoint(tmp_path / "start.pt", start, arch=cfg.arch, extra={"training": {"steps": 100, "hours": 0.5}})
    cfg = load_config(
        CONFIGS / "smoke.yaml",
        runs_dir=str(tmp_path / "runs"),
        data_dir=str(data),
        dnsmos=False,
        init_from=str(tmp_path / "start.pt"),
        max_steps=1,
        **{"optim.lr": 1e-9},
    )
    last = train(cfg)
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    assert torch.allclose(state["model.encoder.0.0.weight"], torch.full_like(state["model.encoder.0.0.weight"], 0.01))
    recorded = load_source(last).training  # what `ml export` writes into the model card
    assert recorded["started_from"] == f"{tmp_path / 'start.pt'} (100 steps, 0.5 h)"
    assert recorded["total_steps"] == 101 and recorded["total_hours"] == round(0.5 + recorded["hours"], 2)


def test_init_from_refuses_another_architecture(shared: Path, tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "gw.pt", build_model("gatewave", SMALL["gatewave"]), arch="gatewave")
    cfg = load_config(
        CONFIGS / "smoke.yaml", runs_dir=str(tmp_path / "runs"), dnsmos=False, init_from=str(tmp_path / "gw.pt")
    )
    with pytest.raises(ValueError, match="gatewave model, not demucs"):
        train(cfg)


@pytest.mark.parametrize("name", ["2", "3"])
def test_resampling_first_used_for_inference_still_trains(name: str) -> None:
    """The resampling kernels are cached: one first made while a denoiser ran in inference mode broke training."""
    from ml.models import resample

    up, down = getattr(resample, f"upsample{name}"), getattr(resample, f"downsample{name}")
    resample._kernel.cache_clear()
    resample._lowpass3.cache_clear()
    with torch.inference_mode():
        down(up(torch.zeros(1, 64)))
    x = torch.randn(1, 64, requires_grad=True)
    down(up(x)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
