"""GateWave: a waveform U-Net built only of gated 1-D convolutions (GLU: ``a * sigmoid(b)``).

Strided gated convolutions go down, transposed gated convolutions come back up with additive skips, and
a stack of dilated gated residual blocks at the bottom gives about a second of context each side in
place of an LSTM, so the whole network is convolutional, non-causal and cheap. Every layer's output is
its own value passed through a learned sigmoid mask, the output layer included.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GatedResidual(nn.Module):
    """``x + GLU(conv_k3_dilated(x))``, length-preserving."""

    def __init__(self, channels: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, 3, dilation=dilation, padding=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.glu(self.conv(x), dim=1)


class GateWave(nn.Module):
    """Call: ``model(noisy)`` with ``noisy`` shaped (batch, time) or (batch, 1, time) → (batch, 1, time)."""

    def __init__(
        self,
        *,
        chin: int = 1,
        chout: int = 1,
        hidden: int = 48,
        depth: int = 4,
        kernel_size: int = 8,
        stride: int = 4,
        growth: float = 2,
        max_hidden: int = 512,
        bottleneck_blocks: int = 5,
        normalize: bool = True,
        floor: float = 1e-3,
        sample_rate: int = 16_000,
    ) -> None:
        super().__init__()
        if (kernel_size - stride) % 2 or kernel_size < stride:
            raise ValueError("kernel_size - stride must be even and non-negative")
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.depth, self.stride, self.normalize = depth, stride, normalize
        self.floor, self.sample_rate = floor, sample_rate
        padding = (kernel_size - stride) // 2
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for _ in range(depth):
            self.encoder.append(
                nn.ModuleDict(
                    {
                        "down": nn.Conv1d(chin, 2 * hidden, kernel_size, stride, padding),
                        "res": GatedResidual(hidden),
                    }
                )
            )
            self.decoder.insert(
                0,
                nn.ModuleDict(
                    {
                        "res": GatedResidual(hidden),
                        "up": nn.ConvTranspose1d(hidden, 2 * chout, kernel_size, stride, padding),
                    }
                ),
            )
            chin = chout = hidden
            hidden = min(int(growth * hidden), max_hidden)
        self.bottleneck = nn.Sequential(*(GatedResidual(chin, dilation=2**block) for block in range(bottleneck_blocks)))

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        if mix.dim() == 2:
            mix = mix.unsqueeze(1)
        if not self.normalize:
            return self.enhance_normalized(mix)
        std = mix.mean(dim=1, keepdim=True).std(dim=-1, keepdim=True, correction=0)
        return std * self.enhance_normalized(mix / (self.floor + std))

    def enhance_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper, on input already scaled to unit std (used by chunked inference)."""
        length = x.shape[-1]
        x = F.pad(x, (0, -length % (self.stride**self.depth)))
        skips = []
        for level in self.encoder:
            x = level["res"](F.glu(level["down"](x), dim=1))
            skips.append(x)
        x = self.bottleneck(x)
        for level in self.decoder:
            x = F.glu(level["up"](level["res"](x + skips.pop())), dim=1)
        return x[..., :length]
