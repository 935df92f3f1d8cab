"""GateWave: a U-Net of gated 1-D convolutions (GLU: ``a * sigmoid(b)``) that predicts a spectral mask.

The waveform goes through a short-time Fourier transform (32 ms Hann windows every 8 ms); the log
magnitudes of each frame are the input channels of a 1-D U-Net that runs along time. Strided gated
convolutions go down twice, a stack of dilated gated residual blocks at the bottom gives about half a
second of context each side, transposed gated convolutions come back up with additive skips, and a
sigmoid mask per frequency bin scales the noisy spectrum, which the inverse transform turns back into a
waveform (the noisy phase is kept). Convolutions along time with frequency as channels are cheap on a
CPU: the network does about a third of Demucs's work per second of audio, so it sees more data in the
same training budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from ml.models.base import Enhancer


class GatedResidual(nn.Module):
    """``x + GLU(conv_dilated(x))``, length-preserving."""

    def __init__(self, channels: int, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(channels, 2 * channels, kernel_size, dilation=dilation, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.glu(self.conv(x), dim=1)


class GateWave(Enhancer):
    """Call: ``model(noisy)`` with ``noisy`` shaped (batch, time) or (batch, 1, time) → (batch, 1, time)."""

    window: torch.Tensor  # a buffer

    def __init__(
        self,
        *,
        n_fft: int = 512,
        hop: int = 128,
        hidden: int = 192,
        depth: int = 2,
        kernel_size: int = 3,
        bottleneck_blocks: int = 4,
        normalize: bool = True,
        floor: float = 1e-3,
        sample_rate: int = 16_000,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd")
        self.remember_config(locals())
        self.n_fft, self.hop, self.depth = n_fft, hop, depth
        self.normalize, self.floor, self.sample_rate = normalize, floor, sample_rate
        bins = n_fft // 2 + 1
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.inp = nn.Conv1d(bins, 2 * hidden, 1)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for _ in range(depth):
            self.down.append(
                nn.ModuleDict(
                    {"res": GatedResidual(hidden, kernel_size), "conv": nn.Conv1d(hidden, 2 * hidden, 4, 2, 1)}
                )
            )
            self.up.insert(
                0,
                nn.ModuleDict(
                    {"conv": nn.ConvTranspose1d(hidden, 2 * hidden, 4, 2, 1), "res": GatedResidual(hidden, kernel_size)}
                ),
            )
        self.bottleneck = nn.Sequential(
            *(GatedResidual(hidden, kernel_size, dilation=2**block) for block in range(bottleneck_blocks))
        )
        self.out = nn.Conv1d(hidden, bins, 1)

    def mask(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Gain in [0, 1] per bin and frame for a (batch, bins, frames) magnitude."""
        frames = magnitude.shape[-1]
        x = F.glu(self.inp(torch.log(magnitude + 1e-4)), dim=1)
        x = F.pad(x, (0, -frames % (2**self.depth)))
        skips = []
        for level in cast(Iterable[nn.ModuleDict], self.down):
            x = level["res"](x)
            skips.append(x)
            x = F.glu(level["conv"](x), dim=1)
        x = self.bottleneck(x)
        for level in cast(Iterable[nn.ModuleDict], self.up):
            x = level["res"](F.glu(level["conv"](x), dim=1) + skips.pop())
        return torch.sigmoid(self.out(x[..., :frames]))

    def enhance_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper, on input already scaled to unit std (used by chunked inference)."""
        batch, length = x.shape[0], x.shape[-1]
        wave = F.pad(x.reshape(batch, length), (0, max(0, self.n_fft - length)))  # the transform needs a window
        spec = torch.stft(wave, self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        spec = spec * self.mask(spec.abs())
        out = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True, length=length)
        return out.unsqueeze(1)
