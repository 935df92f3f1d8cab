"""DeepFilterNet3 as a trainable ``Enhancer``: waveform in, waveform out, differentiable end to end.

The network is ``ml.models.dfnet3.DfNet3``; around it this module does in PyTorch what ``ml.deepfilternet`` does
in NumPy for inference (libDF's signal processing): the Vorbis-window STFT at 48 kHz, ERB and complex features
with exponential normalisation (computed without gradient: they depend on the input only), the two-frame
convolution look-ahead, ERB gains on the whole spectrum, the 5-tap deep filter on the lowest 96 bins, and the
overlap-add. On a note up to one inference block long (20 s) it gives the ONNX Runtime port's samples (tested).

With ``sample_rate`` 16000 (the training data's rate) the input is interpolated to 48 kHz and the output brought
back, both in PyTorch, so losses and metrics stay at 16 kHz.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ml.models.base import Enhancer
from ml.models.dfnet3 import DF_ORDER, NB_DF, NB_ERB, DfNet3
from ml.models.resample import downsample3, upsample3

FFT, HOP = 960, 480
CONV_LOOKAHEAD = 2
NORM_ALPHA = 0.99
MEAN_NORM_INIT = (-60.0, -90.0)
UNIT_NORM_INIT = (0.001, 0.0001)


def erb_widths() -> np.ndarray:
    """Bins per ERB band at 48 kHz / 960 points, as libDF computes them."""
    from ml.deepfilternet import erb_widths as widths

    return widths()


class DeepFilterNet3Net(Enhancer):
    """DeepFilterNet3 on (batch, 1, time) audio at ``sample_rate`` (48000 or 16000)."""

    normalize = False
    floor = 0.0
    window: Tensor  # buffers: the analysis window, the ERB bands' widths and each bin's band
    widths: Tensor
    bands: Tensor

    def __init__(self, sample_rate: int = 16_000) -> None:
        super().__init__()
        self.remember_config(locals())
        if sample_rate not in (16_000, 48_000):
            raise ValueError(f"DeepFilterNet3 runs at 48 kHz or, through interpolation, 16 kHz, not {sample_rate}")
        self.sample_rate = sample_rate
        self.net = DfNet3()
        n = torch.arange(FFT, dtype=torch.float64)
        window = torch.sin(0.5 * math.pi * torch.sin(math.pi * (n + 0.5) / FFT) ** 2)
        self.register_buffer("window", window.float(), persistent=False)
        widths = torch.from_numpy(erb_widths())
        self.register_buffer("widths", widths, persistent=False)
        self.register_buffer("bands", torch.repeat_interleave(torch.arange(NB_ERB), widths), persistent=False)

    def enhance_normalized(self, x: Tensor) -> Tensor:
        audio = x[:, 0]
        if self.sample_rate == 48_000:
            return self.enhance48(audio).unsqueeze(1)
        out = downsample3(self.enhance48(upsample3(audio)))
        return out[:, : audio.shape[-1]].unsqueeze(1)

    def enhance48(self, audio: Tensor) -> Tensor:
        """(batch, time) at 48 kHz → the enhanced (batch, time), aligned with the input."""
        batch, size = audio.shape
        frames_count = -(-size // HOP) + CONV_LOOKAHEAD + 1
        hops = torch.nn.functional.pad(audio, (0, frames_count * HOP - size)).view(batch, frames_count, HOP)
        previous = torch.cat([hops.new_zeros(batch, 1, HOP), hops[:, :-1]], dim=1)
        spec = torch.fft.rfft(torch.cat([previous, hops], dim=-1) * self.window) / (FFT * FFT / (2 * HOP))
        with torch.no_grad():
            feat_erb, feat_spec = self.features(spec)
        gains, coefs = self.net(feat_erb, feat_spec)
        # the network's output for frame t + 2 belongs to frame t (its convolutions look two frames ahead)
        targets = frames_count - CONV_LOOKAHEAD
        gains = gains[:, 0, CONV_LOOKAHEAD:]
        coefs = coefs[:, CONV_LOOKAHEAD:].reshape(batch, targets, NB_DF, DF_ORDER, 2)
        coefs = torch.complex(coefs[..., 0], coefs[..., 1])
        spec_t = spec[:, :targets]
        masked = spec_t * torch.repeat_interleave(gains, self.widths, dim=-1, output_size=spec.shape[-1])
        low = torch.cat([spec.new_zeros(batch, DF_ORDER // 2, NB_DF), spec[:, :, :NB_DF]], dim=1)
        filtered = sum(low[:, i : i + targets] * coefs[..., i] for i in range(DF_ORDER))
        enhanced = torch.cat([filtered, masked[:, :, NB_DF:]], dim=-1)  # type: ignore[list-item]
        frames = torch.fft.irfft(enhanced, n=FFT) * FFT * self.window
        pcm = frames[..., :HOP] + torch.cat([frames.new_zeros(batch, 1, HOP), frames[:, :-1, HOP:]], dim=1)
        return pcm.reshape(batch, -1)[:, HOP : HOP + size]

    def features(self, spec: Tensor) -> tuple[Tensor, Tensor]:
        """(ERB features (B, 1, T, 32), complex features (B, 2, T, 96)) with libDF's running normalisation."""
        batch, count, _ = spec.shape
        power = spec.real**2 + spec.imag**2
        band_power = power.new_zeros(batch, count, NB_ERB).index_add_(-1, self.bands, power)
        erb = 10.0 * torch.log10(band_power / self.widths + 1e-10)
        magnitude = spec[:, :, :NB_DF].abs()
        mean = torch.linspace(*MEAN_NORM_INIT, NB_ERB, device=spec.device).expand(batch, NB_ERB)
        unit = torch.linspace(*UNIT_NORM_INIT, NB_DF, device=spec.device).expand(batch, NB_DF)
        erb_out, unit_out = torch.empty_like(erb), torch.empty_like(magnitude)
        for t in range(count):  # first-order recursions, as the runtime runs them
            mean = erb[:, t] * (1 - NORM_ALPHA) + mean * NORM_ALPHA
            erb_out[:, t] = (erb[:, t] - mean) / 40.0
            unit = magnitude[:, t] * (1 - NORM_ALPHA) + unit * NORM_ALPHA
            unit_out[:, t] = unit.sqrt()
        normalised = spec[:, :, :NB_DF] / unit_out
        return erb_out.unsqueeze(1), torch.stack([normalised.real, normalised.imag], dim=1)
