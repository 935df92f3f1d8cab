"""Demucs for speech enhancement (Défossez et al., 2020, "Real Time Speech Enhancement in the Waveform Domain").

Parameter names and shapes follow facebookresearch/denoiser, so the published ``dns48``, ``dns64`` and
``master64`` state dicts load unchanged. ``causal=False`` gives the bidirectional-LSTM variant.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ml.models.base import Enhancer
from ml.models.resample import downsample2, upsample2


class BLSTM(nn.Module):
    """LSTM over time, optionally bidirectional with a projection back to ``dim``."""

    def __init__(self, dim: int, layers: int = 2, bi: bool = True) -> None:
        super().__init__()
        self.lstm = nn.LSTM(bidirectional=bi, num_layers=layers, hidden_size=dim, input_size=dim)
        self.linear = nn.Linear(2 * dim, dim) if bi else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.lstm(x)
        return self.linear(x) if self.linear is not None else x


def _rescale(module: nn.Module, reference: float) -> None:
    for sub in module.modules():
        if isinstance(sub, nn.Conv1d | nn.ConvTranspose1d):
            scale = (sub.weight.std().detach() / reference) ** 0.5
            sub.weight.data /= scale
            if sub.bias is not None:
                sub.bias.data /= scale


class Demucs(Enhancer):
    """Encoder/decoder of strided convolutions with GLU, skip connections and an LSTM in the middle.

    Call: ``model(noisy)`` with ``noisy`` shaped (batch, time) or (batch, 1, time) → (batch, 1, time).
    """

    std_correction = 1  # as the published Demucs normalised its input

    def __init__(
        self,
        *,
        chin: int = 1,
        chout: int = 1,
        hidden: int = 48,
        depth: int = 5,
        kernel_size: int = 8,
        stride: int = 4,
        causal: bool = True,
        resample: int = 4,
        growth: float = 2,
        max_hidden: int = 10_000,
        normalize: bool = True,
        glu: bool = True,
        rescale: float = 0.1,
        floor: float = 1e-3,
        sample_rate: int = 16_000,
    ) -> None:
        super().__init__()
        if resample not in (1, 2, 4):
            raise ValueError("resample must be 1, 2 or 4")
        self.remember_config(locals())
        self.depth, self.kernel_size, self.stride = depth, kernel_size, stride
        self.causal, self.resample, self.normalize = causal, resample, normalize
        self.floor, self.sample_rate = floor, sample_rate
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        ch_scale = 2 if glu else 1
        for index in range(depth):
            self.encoder.append(
                nn.Sequential(
                    nn.Conv1d(chin, hidden, kernel_size, stride),
                    nn.ReLU(),
                    nn.Conv1d(hidden, hidden * ch_scale, 1),
                    nn.GLU(1) if glu else nn.ReLU(),
                )
            )
            decode: list[nn.Module] = [
                nn.Conv1d(hidden, ch_scale * hidden, 1),
                nn.GLU(1) if glu else nn.ReLU(),
                nn.ConvTranspose1d(hidden, chout, kernel_size, stride),
            ]
            if index > 0:
                decode.append(nn.ReLU())
            self.decoder.insert(0, nn.Sequential(*decode))
            chout = chin = hidden
            hidden = min(int(growth * hidden), max_hidden)
        self.lstm = BLSTM(chin, bi=not causal)
        if rescale:
            _rescale(self, reference=rescale)

    def valid_length(self, length: int) -> int:
        """Smallest input length ≥ ``length`` for which no sample is lost in the convolutions."""
        length = math.ceil(length * self.resample)
        for _ in range(self.depth):
            length = max(math.ceil((length - self.kernel_size) / self.stride) + 1, 1)
        for _ in range(self.depth):
            length = (length - 1) * self.stride + self.kernel_size
        return math.ceil(length / self.resample)

    @property
    def total_stride(self) -> int:
        return self.stride**self.depth // self.resample

    def enhance_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper, on input already scaled to unit std (used by chunked inference)."""
        length = x.shape[-1]
        x = F.pad(x, (0, self.valid_length(length) - length))
        for _ in range(self.resample // 2):
            x = upsample2(x)
        skips = []
        for encode in self.encoder:
            x = encode(x)
            skips.append(x)
        x = self.lstm(x.permute(2, 0, 1)).permute(1, 2, 0)
        for decode in self.decoder:
            skip = skips.pop(-1)
            x = decode(x + skip[..., : x.shape[-1]])
        for _ in range(self.resample // 2):
            x = downsample2(x)
        return x[..., :length]
