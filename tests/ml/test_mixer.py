"""Training data: mixtures have the SNR drawn, the validation set is reproducible, the noiser writes files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.audio import decode_audio
from ml.cli import main
from ml.data import augment, codec
from ml.data.mixer import MixConfig, Pools, TrainMixtures, ValidationMixtures, load_pools, make_mixture
from ml.data.synth import SAMPLE_RATE, rms
from testkit.tiny_data import make_tiny_data


@pytest.fixture(scope="module")
def tiny_data(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_data(shared, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def train_pools(tiny_data: Path) -> Pools:
    return load_pools(tiny_data, "train")


def snr_db(signal: np.ndarray, noise: np.ndarray) -> float:
    return 20 * np.log10(rms(signal) / rms(noise))


def test_mixture_snr_is_the_drawn_snr(train_pools: Pools) -> None:
    plain = MixConfig(p_reverb=0.0, p_band_limit=0.0)
    for seed in range(10):
        mixture = make_mixture(np.random.default_rng(seed), train_pools, plain)
        assert -5.0 <= mixture.snr_db <= 20.0
        assert snr_db(mixture.clean, mixture.noisy - mixture.clean) == pytest.approx(mixture.snr_db, abs=0.05)
        assert mixture.noisy.dtype == np.float32 and mixture.noisy.size == plain.segment
        assert np.abs(mixture.noisy).max() < 1.0


def test_snr_is_measured_against_the_target_under_reverb_and_band_limits(train_pools: Pools) -> None:
    harsh = MixConfig(p_reverb=1.0, p_band_limit=1.0, snr_db=(0.0, 5.0))
    mixture = make_mixture(np.random.default_rng(3), train_pools, harsh)
    assert "reverb" in mixture.description and "band" in mixture.description
    assert snr_db(mixture.clean, mixture.noise) == pytest.approx(mixture.snr_db, abs=0.05)
    late_reverb = mixture.noisy - mixture.noise - mixture.clean
    assert rms(late_reverb) > 0.01 * rms(mixture.clean)  # the input is wetter than the target


def test_validation_set_is_identical_across_builds(tiny_data: Path) -> None:
    def build(seed: int) -> ValidationMixtures:
        return ValidationMixtures(load_pools(tiny_data, "dev"), MixConfig(), count=4, seconds=1.0, seed=seed)

    first, second, other = build(7), build(7), build(8)
    assert len(first) == 4
    for index in range(len(first)):
        for a, b in zip(first[index], second[index], strict=True):
            assert a.shape == (SAMPLE_RATE,)
            assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(first[0][0].numpy(), other[0][0].numpy())


def test_seeded_training_stream_repeats(train_pools: Pools) -> None:
    config = MixConfig(segment_s=0.5)
    draw = [next(iter(TrainMixtures(train_pools, config, seed=1))) for _ in range(2)]
    assert np.array_equal(draw[0][0].numpy(), draw[1][0].numpy())
    assert draw[0][0].shape == draw[0][1].shape == (config.segment,)


def test_every_noise_kind_is_drawn(train_pools: Pools) -> None:
    for kind in ("real", "babble", "colored", "hum", "clicks"):
        config = MixConfig(noise_weights={kind: 1.0}, p_second_noise=0.0, p_reverb=0.0, p_band_limit=0.0)
        mixture = make_mixture(np.random.default_rng(0), train_pools, config)
        assert np.isfinite(mixture.noisy).all() and rms(mixture.noise) > 0
        assert mixture.description.startswith(kind) or kind == "real"


def test_synthetic_room_response_decays() -> None:
    rir = augment.synthetic_rir(np.random.default_rng(0), rt60_s=(0.5, 0.5))
    assert rir[0] == 1.0 and rir.size == SAMPLE_RATE // 2
    quarter = rir.size // 4
    assert rms(rir[quarter : 2 * quarter]) > 10 * rms(rir[-quarter:])


def test_noiser_writes_mixtures(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "mixtures"
    args = ["noiser", "--out-dir", str(out), "--count", "3", "--split", "dev", "--seed", "2"]
    assert main([*args, "--data-dir", str(tiny_data)]) == 0
    rows = (out / "mixtures.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["index", "snr_db", "noise"] and len(rows) == 4
    for index in range(3):
        noisy = decode_audio(out / f"{index:04d}_noisy.wav")
        clean = decode_audio(out / f"{index:04d}_clean.wav")
        assert noisy.size == clean.size == MixConfig().segment


@pytest.mark.parametrize("pyav", [True, False], ids=["pyav", "soundfile"])
def test_opus_round_trip_codes_the_noisy_input_only(
    train_pools: Pools, pyav: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A voice note's codec at 16-32 kb/s: the noisy input changes, stays aligned and as long; the target does not.
    Without PyAV (the lent GPU machine) libsndfile codes it."""
    monkeypatch.setattr(codec, "have_pyav", lambda: pyav)
    plain = MixConfig(segment_s=2.0, p_reverb=0.0, p_band_limit=0.0, p_opus=0.0)
    coded = MixConfig(segment_s=2.0, p_reverb=0.0, p_band_limit=0.0, p_opus=1.0)
    before = make_mixture(np.random.default_rng(3), train_pools, plain)
    after = make_mixture(np.random.default_rng(3), train_pools, coded)
    assert after.description.endswith("opus") and after.noisy.size == before.noisy.size
    np.testing.assert_array_equal(after.clean, before.clean)
    assert not np.array_equal(after.noisy, before.noisy)
    lags = np.arange(-40, 41)
    fit = [np.dot(np.roll(after.noisy, lag), before.noisy) for lag in lags]
    assert lags[int(np.argmax(fit))] == 0  # no codec delay left in
    correlation = np.dot(after.noisy, before.noisy) / (np.linalg.norm(after.noisy) * np.linalg.norm(before.noisy))
    assert correlation > 0.5  # coded (a perceptual codec: the waveform is only roughly kept), not replaced
