"""Sinc interpolation by a factor of two (windowed sinc, as in Demucs)."""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F


@cache
def _kernel(zeros: int) -> torch.Tensor:
    window = torch.hann_window(4 * zeros + 1, periodic=False)
    odd = window[1::2]
    t = torch.linspace(-zeros + 0.5, zeros - 0.5, 2 * zeros) * math.pi
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t)
    return (sinc * odd).view(1, 1, -1)


def upsample2(x: torch.Tensor, zeros: int = 56) -> torch.Tensor:
    """Double the sample rate of ``x`` (..., time) by sinc interpolation."""
    *other, time = x.shape
    kernel = _kernel(zeros).to(x)
    out = F.conv1d(x.reshape(-1, 1, time), kernel, padding=zeros)[..., 1:].reshape(*other, time)
    return torch.stack([x, out], dim=-1).reshape(*other, -1)


def downsample2(x: torch.Tensor, zeros: int = 56) -> torch.Tensor:
    """Halve the sample rate of ``x`` (..., time) by sinc interpolation."""
    if x.shape[-1] % 2:
        x = F.pad(x, (0, 1))
    even, odd = x[..., ::2], x[..., 1::2]
    *other, time = odd.shape
    kernel = _kernel(zeros).to(x)
    out = even + F.conv1d(odd.reshape(-1, 1, time), kernel, padding=zeros)[..., :-1].reshape(*other, time)
    return out.reshape(*other, -1).mul(0.5)
