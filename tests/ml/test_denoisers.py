"""Denoiser engines on real speech: same length out, and RNNoise really removes stationary noise."""

from __future__ import annotations

import numpy as np

from ml.data.synth import colored_noise, mix_at_snr, rms
from ml.denoisers import PassThrough, RNNoiseDenoiser, enhance
from testkit.speech import dev_speech


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> float:
    return 20 * np.log10(rms(clean) / rms(estimate - clean))


def test_rnnoise_raises_snr_on_stationary_noise(shared) -> None:
    clean, _ = dev_speech(8.0)
    noisy = mix_at_snr(clean, colored_noise(clean.size, 0.0, np.random.default_rng(0)), 5.0)
    denoiser = RNNoiseDenoiser()
    out = enhance(denoiser, noisy, 16_000)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert snr_db(clean, out) > snr_db(clean, noisy) + 0.5
    noise_only = 0.05 * colored_noise(16_000 * 3, 0.0, np.random.default_rng(1))
    attenuation = 20 * np.log10(rms(noise_only) / rms(enhance(denoiser, noise_only, 16_000)[8000:]))
    assert attenuation > 10.0


def test_passthrough_is_identity() -> None:
    audio = np.linspace(-1, 1, 100, dtype=np.float32)
    assert PassThrough()(audio) is audio


def test_trained_gatewave_from_the_registry_cleans_real_noise(shared, tmp_path) -> None:
    """The committed gatewave-v1 weights load by name and raise the SNR of dev speech in held-out dev noise."""
    from ml.loader import ModelCache
    from ml.registry import Registry
    from testkit.speech import noisy_speech

    denoiser = ModelCache(Registry(cache_dir=tmp_path), threads=1).denoiser("gatewave-v1")
    noisy, _, clean = noisy_speech(8.0, snr_db=5.0)
    out = denoiser(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32 and denoiser.version == "gatewave-v1"
    assert snr_db(clean, out) > snr_db(clean, noisy) + 2.0
