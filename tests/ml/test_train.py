"""Training: the new architectures keep any length; a few CPU steps run, checkpoint and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ml.checkpoint import load_model, save_checkpoint
from ml.denoisers import TorchDenoiser
from ml.export import load_source
from ml.metrics import dnsmos_available
from ml.models import ARCHITECTURES, build_model
from ml.train.losses import RESOLUTIONS, EnhancementLoss
from ml.train.optim import OptimConfig
from ml.train.run import ConfigError, load_config, train
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


@pytest.mark.parametrize("name", sorted(path.stem for path in CONFIGS.glob("*.yaml")))
def test_every_shipped_config_loads_builds_and_runs(name: str, one_thread: None) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name and cfg.run_dir == Path("runs") / name
    model = build_model(cfg.arch, cfg.model).eval()
    loss = EnhancementLoss(
        l1=cfg.l1_weight, stft_sc=cfg.stft_sc_weight, stft_mag=cfg.stft_mag_weight, resolutions=cfg.loss_resolutions
    )
    with torch.no_grad():
        total, parts = loss(model(torch.randn(1, 4000)), torch.randn(1, 4000))
    assert set(parts) == {"l1", "stft_sc", "stft_mag"} and torch.isfinite(total)


def test_the_shipped_configs_are_here() -> None:
    assert {
        "demucs",
        "waveunet",
        "gatewave",
        "deepfilternet3",
        "deepfilternet3-gpu",
        "deepfilternet3-whisper",
        "smoke",
    } <= {path.stem for path in CONFIGS.glob("*.yaml")}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"learning_rate": 0.1}, "bad.yaml: learning_rate: unknown key"),
        ({"lr": 0.1}, r"bad.yaml: lr: unknown key \(lr belongs under optim:\)"),
        ({"optim": {"lrr": 0.1}}, r"bad.yaml: optim.lrr: unknown key \(did you mean optim.lr\?\)"),
        ({"mix": {"snr": [0, 5]}}, r"bad.yaml: mix.snr: unknown key \(did you mean mix.snr_db\?\)"),
        ({"optim": {"lr": "abc"}}, r"bad.yaml: optim.lr: Input should be a valid number.* \(got 'abc'\)"),
        ({"max_steps": 1.5}, r"bad.yaml: max_steps: Input should be a valid integer.* \(got 1.5\)"),
        ({"batch_size": 0}, "bad.yaml: batch_size: Input should be greater than 0"),
        ({"mix": {"snr_db": [10, 0]}}, r"bad.yaml: mix: .*snr_db is a range \(low, high\)"),
        ({"mix": {"noise_weights": {"rain": 1.0}}}, "bad.yaml: mix.noise_weights.rain.*Input should be 'real'"),
        ({"mix": {"p_reverb": 1.5}}, "bad.yaml: mix.p_reverb: Input should be less than or equal to 1"),
        ({"stft_resolutions": [[512, 128]]}, "bad.yaml: stft_resolutions.0.2: Field required"),
        ({"precision": 16}, "bad.yaml: precision: Input should be '64-true', '32-true'"),
        ({"optim": 3}, r"bad.yaml: optim: Input should be a valid dictionary or instance of OptimConfig \(got 3\)"),
    ],
)
def test_a_config_with_a_wrong_key_or_type_is_refused_naming_both(
    config: dict[str, object], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"arch": "demucs", **config}))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("arch: demucs\nmax_steps: 1.5\noptim:\n  lr: abc\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path, ["optim.lrr=1"])
    assert str(refused.value).splitlines() == [
        f"{path}: optim.lr: Input should be a valid number, unable to parse string as a number (got 'abc')",
        "--set optim.lrr=1: optim.lrr: unknown key (did you mean optim.lr?)",
        f"{path}: max_steps: Input should be a valid integer, got a number with a fractional part (got 1.5)",
    ]


def test_set_overrides_config_keys_and_sections() -> None:
    sets = ["name=gatewave-v2", "optim.lr=3e-4", "mix.snr_db=[0, 10]", "max_steps=14000", "stft_resolutions=null"]
    cfg = load_config(CONFIGS / "gatewave.yaml", sets)
    assert (cfg.name, cfg.optim.lr, cfg.mix.snr_db, cfg.max_steps) == ("gatewave-v2", 3e-4, (0, 10), 14000)
    assert cfg.optim.decay_steps == 8500 and cfg.mix.level_db == (-40, -15)  # the rest of each section stays
    assert cfg.run_dir == Path("runs") / "gatewave-v2" and cfg.loss_resolutions == RESOLUTIONS
    assert load_config(CONFIGS / "gatewave.yaml", optim={"lr": 1e-4}).optim == cfg.optim.model_copy(update={"lr": 1e-4})
    assert load_config(CONFIGS / "gatewave.yaml", ["name=2024"]).name == "2024"  # a number where text is wanted
    assert load_config(CONFIGS / "gatewave.yaml", ["model.floor=1e-3"]).model["floor"] == 1e-3  # a float, as YAML 1.2


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("lr", "--set wants KEY=VALUE, got 'lr'"),
        ("=1", "--set wants KEY=VALUE, got '=1'"),
        ("optim.lr=[1", "--set optim.lr=\\[1: the value is not YAML"),
        ("optim.warmup=1", r"--set optim.warmup=1: optim.warmup: unknown key \(did you mean optim.warmup_steps\?\)"),
        ("lr=1", r"--set lr=1: lr: unknown key \(lr belongs under optim:\)"),
        ("optim.lr=abc", "--set optim.lr=abc: optim.lr: Input should be a valid number"),
        ("max_steps=1.5", "--set max_steps=1.5: max_steps: Input should be a valid integer"),
        ("mix.snr_db=[0, x]", "--set mix.snr_db=\\[0, x\\]: mix.snr_db.1: Input should be a valid number"),
        ("max_steps.x=1", "--set max_steps.x=1: max_steps is not a section"),
    ],
)
def test_a_bad_set_option_is_refused_naming_it(pair: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "gatewave.yaml", [pair])


def test_ml_train_reports_a_bad_config_and_exits_2(tmp_path: Path) -> None:
    """As a user runs it: one line per problem, no traceback, exit status 2."""
    path = tmp_path / "bad.yaml"
    path.write_text("arch: demucs\noptim:\n  lr: abc\n")
    command = [sys.executable, "-m", "ml", "train", "--config", str(path), "--set", "max_steps=1.5"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=_repo_on_path())
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"ml: {path}: optim.lr: Input should be a valid number, unable to parse string as a number (got 'abc')",
        "ml: --set max_steps=1.5: max_steps: Input should be a valid integer, got a number with a fractional part "
        "(got 1.5)",
    ]
    missing = subprocess.run(
        [*command[:5], str(tmp_path / "none.yaml")], capture_output=True, text=True, timeout=120, env=_repo_on_path()
    )
    assert missing.returncode == 2 and "none.yaml" in missing.stderr and "Traceback" not in missing.stderr


def _repo_on_path() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(CONFIGS.parents[1])}


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
    # plain data only, no pickled config objects: a checkpoint outlives changes to the config classes
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == cfg.max_steps
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
