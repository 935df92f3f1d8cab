"""Tiny denoisers and checkpoints as others write them: a small seeded Demucs, the checkpoint ``python -m ml train``
saves, and the key names and shapes of the published Demucs checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ml.models import build_model

TINY = {"hidden": 8, "resample": 2, "causal": False}  # as ml/configs/smoke.yaml


def tiny_demucs(seed: int = 0) -> nn.Module:
    """A seeded Demucs of the smoke config's size, in eval mode."""
    torch.manual_seed(seed)
    return build_model("demucs", TINY).eval()


def write_lightning_checkpoint(path: Path, model: nn.Module, *, steps: int = 7) -> Path:
    """What ``python -m ml train`` saves: the LightningModule's state (network under ``model.``) and more."""
    state = {f"model.{name}": value for name, value in model.state_dict().items()}
    torch.save(
        {
            "epoch": 0,
            "global_step": steps,
            "pytorch-lightning_version": "2.6.6",
            "state_dict": state | {"loss.window": torch.ones(4)},
            "callbacks": {"ModelCheckpoint{'monitor': 'val/pesq'}": {"monitor": "val/pesq", "best_model_score": 1.5}},
            "denoiser": {"arch": "demucs", "config": dict(model.config)},
        },
        path,
    )
    return path


def published_layout(hidden: int) -> dict[str, tuple[int, ...]]:
    """Key names and shapes of facebookresearch/denoiser's causal Demucs state dicts (dns48/dns64/master64),
    written out from the paper's architecture: depth 5, kernel 8, stride 4, GLU, growth 2, 2-layer LSTM."""
    shapes: dict[str, tuple[int, ...]] = {}
    chin, h = 1, hidden
    for i in range(5):
        shapes[f"encoder.{i}.0.weight"] = (h, chin, 8)
        shapes[f"encoder.{i}.0.bias"] = (h,)
        shapes[f"encoder.{i}.2.weight"] = (2 * h, h, 1)
        shapes[f"encoder.{i}.2.bias"] = (2 * h,)
        d = 4 - i  # decoders are stored deepest first
        shapes[f"decoder.{d}.0.weight"] = (2 * h, h, 1)
        shapes[f"decoder.{d}.0.bias"] = (2 * h,)
        shapes[f"decoder.{d}.2.weight"] = (h, 1 if i == 0 else h // 2, 8)
        shapes[f"decoder.{d}.2.bias"] = (1 if i == 0 else h // 2,)
        chin, h = h, 2 * h
    top = hidden * 16
    for layer in (0, 1):
        shapes[f"lstm.lstm.weight_ih_l{layer}"] = (4 * top, top)
        shapes[f"lstm.lstm.weight_hh_l{layer}"] = (4 * top, top)
        shapes[f"lstm.lstm.bias_ih_l{layer}"] = (4 * top,)
        shapes[f"lstm.lstm.bias_hh_l{layer}"] = (4 * top,)
    return shapes
