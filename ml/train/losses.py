"""Training losses: L1 on the waveform plus a multi-resolution STFT loss (Yamamoto et al., 2020), DeepFilterNet's
compressed spectral loss, and a loss judging the audio as Whisper's encoder hears it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ml.whisper_encoder import LogMel, WhisperEncoder

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


class CompressedSpectrumLoss(nn.Module):
    """DeepFilterNet's multi-resolution spectral loss: mean squared error of magnitudes compressed to the power
    ``gamma`` and of the complex spectra with those magnitudes (Schröter et al.), over Hann windows of the given
    sizes with a quarter-window hop. Returns (magnitude part, complex part)."""

    def __init__(self, ffts: tuple[int, ...] = (256, 512, 1024, 2048), gamma: float = 0.3) -> None:
        super().__init__()
        self.ffts, self.gamma = ffts, gamma
        for fft in ffts:
            self.register_buffer(f"window{fft}", torch.hann_window(fft), persistent=False)

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        magnitude = complex_part = estimate.new_zeros(())
        for fft in self.ffts:
            window = getattr(self, f"window{fft}")
            est, ref = (
                torch.stft(x, fft, fft // 4, fft, window=window, return_complex=True) for x in (estimate, target)
            )
            est_abs, ref_abs = (x.abs().clamp_min(1e-12) for x in (est, ref))
            magnitude = magnitude + F.mse_loss(est_abs.pow(self.gamma), ref_abs.pow(self.gamma))
            # the spectrum with compressed magnitude and the same phase: z |z|^(gamma - 1)
            est_c, ref_c = est * est_abs.pow(self.gamma - 1), ref * ref_abs.pow(self.gamma - 1)
            complex_part = complex_part + F.mse_loss(torch.view_as_real(est_c), torch.view_as_real(ref_c))
        return magnitude, complex_part


class WhisperFeatureLoss(nn.Module):
    """How differently Whisper hears the estimate and the clean target: the mean squared error between the
    encoder's residual stream after each block in ``layers``, each frame's vector normalised first (LayerNorm
    without gain: from the fourth block of base on a few channels reach ±500 and would make a raw error rise and
    fall with the noise), averaged over the layers; it grows with the noise at every block. The encoder is frozen
    and kept out of this module's parameters and state (a checkpoint of the denoiser does not carry Whisper);
    gradients flow through it to the estimate. 16-kHz ``(batch, time)``.

    With ``mix`` above 0 Whisper hears what the pipeline's ``mix`` strategy gives it: the estimate with that share
    of the noisy input added back (``noisy`` must then be passed)."""

    def __init__(self, encoder: WhisperEncoder, layers: Sequence[int] = (1, 3, 5), *, mix: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= mix < 1.0:
            raise ValueError("mix must be within [0, 1)")
        self.mel = LogMel()
        self.layers = tuple(layers)
        self.mix = mix
        self._encoder = [encoder.requires_grad_(False).eval()]  # in a list: not a submodule

    def forward(self, estimate: torch.Tensor, target: torch.Tensor, noisy: torch.Tensor | None = None) -> torch.Tensor:
        if self.mix:
            if noisy is None:
                raise ValueError("this Whisper-feature loss hears the mix: pass the noisy input")
            estimate = (1.0 - self.mix) * estimate + self.mix * noisy.reshape(estimate.shape)
        encoder = self._encoder[0]
        if encoder.positions.device != estimate.device:
            self._encoder[0] = encoder = encoder.to(estimate.device)
        with torch.no_grad():
            reference = encoder.hidden_states(self.mel(target), self.layers)
        heard = encoder.hidden_states(self.mel(estimate), self.layers)
        errors = [F.mse_loss(_normalised(h), _normalised(r)) for h, r in zip(heard, reference, strict=True)]
        return torch.stack(errors).mean()


def _normalised(states: torch.Tensor) -> torch.Tensor:
    """Each frame's vector at zero mean and unit variance."""
    return F.layer_norm(states, states.shape[-1:])


class EnhancementLoss(nn.Module):
    """``l1 * |est - ref| + sc * spectral convergence + mag * log-magnitude`` (+ DeepFilterNet's compressed
    spectral loss, ``compressed`` on magnitudes and ``compressed_complex`` on complex spectra) (+ ``whisper_weight``
    × a ``WhisperFeatureLoss`` when one is given); returns the total and its parts."""

    def __init__(
        self,
        *,
        l1: float = 1.0,
        stft_sc: float = 0.5,
        stft_mag: float = 0.5,
        resolutions: tuple[tuple[int, int, int], ...] = RESOLUTIONS,
        compressed: float = 0.0,
        compressed_complex: float = 0.0,
        whisper: WhisperFeatureLoss | None = None,
        whisper_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.weights = {
            "l1": l1,
            "stft_sc": stft_sc,
            "stft_mag": stft_mag,
            "compressed": compressed,
            "compressed_complex": compressed_complex,
            "whisper": whisper_weight,
        }
        self.stft = MultiResolutionSTFTLoss(resolutions) if stft_sc or stft_mag else None
        self.compressed = CompressedSpectrumLoss() if compressed or compressed_complex else None
        self.whisper = whisper if whisper_weight else None

    def forward(
        self, estimate: torch.Tensor, target: torch.Tensor, noisy: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``estimate``, ``target`` (and ``noisy``, the input, which a Whisper loss on the mix needs) shaped
        (batch, time) or (batch, 1, time)."""
        estimate, target = estimate.reshape(estimate.shape[0], -1), target.reshape(target.shape[0], -1)
        parts = {"l1": F.l1_loss(estimate, target)}
        if self.stft is not None:
            parts["stft_sc"], parts["stft_mag"] = self.stft(estimate, target)
        if self.compressed is not None:
            parts["compressed"], parts["compressed_complex"] = self.compressed(estimate, target)
        if self.whisper is not None:
            parts["whisper"] = self.whisper(estimate, target, noisy)
        total = sum(self.weights[name] * value for name, value in parts.items())
        return total, parts  # type: ignore[return-value]
