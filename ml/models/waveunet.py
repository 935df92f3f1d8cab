"""Wave-U-Net (Stoller, Ewert and Dixon, 2018, "Wave-U-Net: A Multi-Scale Neural Network for End-to-End
Audio Source Separation"), adapted to 16 kHz speech enhancement.

Each level convolves (kernel 15) and decimates by two on the way down; on the way up the features are
linearly interpolated, concatenated with the skip and convolved (kernel 5). The last layer sees the input
too and outputs the clean waveform. "Same" padding replaces the paper's valid convolutions, so the input
is only padded to a multiple of ``2 ** depth`` and any length comes out unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ml.models.base import Enhancer


class WaveUNet(Enhancer):
    """Call: ``model(noisy)`` with ``noisy`` shaped (batch, time) or (batch, 1, time) → (batch, 1, time)."""

    def __init__(
        self,
        *,
        chin: int = 1,
        chout: int = 1,
        depth: int = 12,
        channels: int = 24,
        down_kernel: int = 15,
        up_kernel: int = 5,
        normalize: bool = True,
        floor: float = 1e-3,
        sample_rate: int = 16_000,
    ) -> None:
        super().__init__()
        if down_kernel % 2 == 0 or up_kernel % 2 == 0:
            raise ValueError("kernel sizes must be odd")
        self.remember_config(locals())
        self.depth, self.normalize, self.floor, self.sample_rate = depth, normalize, floor, sample_rate
        widths = [chin] + [channels * (level + 1) for level in range(depth + 1)]
        self.down = nn.ModuleList(
            nn.Conv1d(widths[level], widths[level + 1], down_kernel, padding=down_kernel // 2) for level in range(depth)
        )
        self.bottleneck = nn.Conv1d(widths[depth], widths[depth + 1], down_kernel, padding=down_kernel // 2)
        self.up = nn.ModuleList(
            nn.Conv1d(widths[level + 2] + widths[level + 1], widths[level + 1], up_kernel, padding=up_kernel // 2)
            for level in reversed(range(depth))
        )
        self.out = nn.Conv1d(widths[1] + chin, chout, 1)

    def enhance_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper, on input already scaled to unit std (used by chunked inference)."""
        length = x.shape[-1]
        x = F.pad(x, (0, -length % (2**self.depth)))
        source = x
        skips = []
        for conv in self.down:
            x = F.leaky_relu(conv(x), 0.2)
            skips.append(x)
            x = x[..., ::2]
        x = F.leaky_relu(self.bottleneck(x), 0.2)
        for conv in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-1], mode="linear", align_corners=True)
            x = F.leaky_relu(conv(torch.cat([x, skip], dim=1)), 0.2)
        return self.out(torch.cat([x, source], dim=1))[..., :length]
