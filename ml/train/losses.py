"""Training losses: L1 on the waveform plus a multi-resolution STFT loss (Yamamoto et al., 2020)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# (fft size, hop, window) per resolution, as in facebookresearch/denoiser
RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 50, 240), (1024, 120, 600), (2048, 240, 1200))


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence and log-magnitude distance, averaged over several STFT resolutions."""

    def __init__(self, resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS, eps: float = 1e-7) -> None:
        super().__init__()
        self.resolutions = resolutions
        self.eps = eps
        for index, (_, _, win) in enumerate(resolutions):
            self.register_buffer(f"window{index}", torch.hann_window(win), persistent=False)

    def _magnitude(self, x: torch.Tensor, index: int) -> torch.Tensor:
        fft, hop, win = self.resolutions[index]
        window = getattr(self, f"window{index}")
        spec = torch.stft(x, fft, hop, win, window=window, return_complex=True)
        return spec.abs().clamp_min(self.eps)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (spectral convergence, log-magnitude loss) for (batch, time) signals."""
        sc = mag = estimate.new_zeros(())
        for index in range(len(self.resolutions)):
            est, ref = self._magnitude(estimate, index), self._magnitude(target, index)
            sc = sc + torch.linalg.norm(ref - est, dim=(-2, -1)).div(torch.linalg.norm(ref, dim=(-2, -1))).mean()
            mag = mag + F.l1_loss(est.log(), ref.log())
        count = len(self.resolutions)
        return sc / count, mag / count


class EnhancementLoss(nn.Module):
    """``l1 * |est - ref| + sc * spectral convergence + mag * log-magnitude``; returns the total and its parts."""

    def __init__(
        self,
        *,
        l1: float = 1.0,
        stft_sc: float = 0.5,
        stft_mag: float = 0.5,
        resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS,
    ) -> None:
        super().__init__()
        self.weights = {"l1": l1, "stft_sc": stft_sc, "stft_mag": stft_mag}
        self.stft = MultiResolutionSTFTLoss(resolutions) if stft_sc or stft_mag else None

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``estimate`` and ``target`` shaped (batch, time) or (batch, 1, time)."""
        estimate, target = estimate.reshape(estimate.shape[0], -1), target.reshape(target.shape[0], -1)
        parts = {"l1": F.l1_loss(estimate, target)}
        if self.stft is not None:
            parts["stft_sc"], parts["stft_mag"] = self.stft(estimate, target)
        total = sum(self.weights[name] * value for name, value in parts.items())
        return total, parts  # type: ignore[return-value]
