"""Sinc interpolation by a factor of two (windowed sinc, as in Demucs)."""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F


@cache
def _kernel(zeros: int) -> torch.Tensor:
    with torch.inference_mode(False):  # cached: a tensor made in inference mode could not be used in training
        return _sinc_kernel(zeros)


def _sinc_kernel(zeros: int) -> torch.Tensor:
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


@cache
def _lowpass3(zeros: int) -> torch.Tensor:
    """A Kaiser-windowed sinc cutting at a third of the band (8 kHz at 48 kHz): 1 at 0 and 0 at other multiples
    of 3, so upsampling keeps the original samples."""
    with torch.inference_mode(False):  # cached, as ``_kernel``
        return _kaiser_sinc3(zeros)


def _kaiser_sinc3(zeros: int) -> torch.Tensor:
    n = torch.arange(-3 * zeros, 3 * zeros + 1, dtype=torch.float64)
    window = torch.kaiser_window(n.numel(), periodic=False, beta=8.0, dtype=torch.float64)
    return (torch.sinc(n / 3) * window).float().view(1, 1, -1)


def upsample3(x: torch.Tensor, zeros: int = 24) -> torch.Tensor:
    """Triple the sample rate of ``x`` (..., time), e.g. 16 → 48 kHz, by windowed-sinc interpolation."""
    *other, time = x.shape
    stuffed = x.new_zeros(*other, time * 3)
    stuffed[..., ::3] = x
    kernel = _lowpass3(zeros).to(x)
    return F.conv1d(stuffed.reshape(-1, 1, time * 3), kernel, padding=3 * zeros).reshape(*other, time * 3)


def downsample3(x: torch.Tensor, zeros: int = 24) -> torch.Tensor:
    """A third of the sample rate of ``x`` (..., time), e.g. 48 → 16 kHz, after the same low-pass."""
    *other, time = x.shape
    kernel = _lowpass3(zeros).to(x) / 3
    out = F.conv1d(x.reshape(-1, 1, time), kernel, padding=3 * zeros, stride=3)
    return out.reshape(*other, -1)
