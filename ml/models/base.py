"""What every denoising network shares: its call, level normalisation and a record of its arguments."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Enhancer(nn.Module):
    """Call: ``model(noisy)`` with ``noisy`` shaped (batch, time) or (batch, 1, time) → (batch, 1, time).

    With ``normalize`` the input is scaled to unit standard deviation, enhanced by ``enhance_normalized`` and
    scaled back, so a network sees the same level whatever the note's loudness. Subclasses set ``normalize``,
    ``floor`` and ``config`` (``remember_config(locals())`` first thing in ``__init__``)."""

    normalize: bool
    floor: float
    config: dict[str, Any]
    std_correction = 0  # Bessel's correction of the input's standard deviation (Demucs used 1)

    def remember_config(self, arguments: dict[str, Any]) -> None:
        """Keep the constructor's arguments (its ``locals()``), which a checkpoint needs to rebuild the model."""
        self.config = {k: v for k, v in arguments.items() if k not in ("self", "__class__")}

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        if mix.dim() == 2:
            mix = mix.unsqueeze(1)
        if not self.normalize:
            return self.enhance_normalized(mix)
        std = mix.mean(dim=1, keepdim=True).std(dim=-1, keepdim=True, correction=self.std_correction)
        return std * self.enhance_normalized(mix / (self.floor + std))

    def enhance_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper, on (batch, 1, time) input already scaled to unit std (used by chunked inference)."""
        raise NotImplementedError
