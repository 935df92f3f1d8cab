"""Denoising networks. Each is a plain ``nn.Module``: ``model(noisy (B, T)) -> clean (B, 1, T)``."""

from __future__ import annotations

from ml.models.base import Enhancer
from ml.models.deepfilternet3 import DeepFilterNet3Net
from ml.models.demucs import Demucs
from ml.models.gatewave import GateWave
from ml.models.waveunet import WaveUNet

ARCHITECTURES: dict[str, type[Enhancer]] = {
    "demucs": Demucs,
    "waveunet": WaveUNet,
    "gatewave": GateWave,
    "deepfilternet3": DeepFilterNet3Net,
}


def build_model(arch: str, config: dict) -> Enhancer:
    """Instantiate architecture ``arch`` with its constructor arguments."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError as exc:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}") from exc
    return cls(**config)
