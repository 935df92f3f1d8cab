"""DeepFilterNet3's network (Schröter et al., 2023) in PyTorch, for fine-tuning the released weights.

A port of ``df/deepfilternet3.py`` and the layers it uses from ``df/modules.py`` in the ``deepfilternet`` package
(MIT OR Apache-2.0), fixed to the released model's configuration (``config.ini`` in the weights archive). The
package itself cannot be installed beside this project (it pins numpy < 2 and pulls in torchaudio), so the three
sub-networks are written out here with the same module names: a state dict of the package's ``DfNet`` loads into
``DfNet3`` as it is. ``ml.dfnet3_weights`` fills them from the released ONNX graphs and writes them back.

The network maps normalised ERB features (B, 1, T, 32) and complex features (B, 2, T, 96) to ERB gains
(B, 1, T, 32) and deep-filter coefficients (B, T, 96, 10: 5 taps × real, imaginary); the signal processing
around it is ``ml.models.deepfilternet3``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

NB_ERB = 32
NB_DF = 96
DF_ORDER = 5
CONV_CH = 64
EMB_HIDDEN = 256
DF_HIDDEN = 256
ENC_LINEAR_GROUPS = 32
LINEAR_GROUPS = 16
LSNR_MIN, LSNR_MAX = -15.0, 35.0


class Conv2dNormAct(nn.Sequential):
    """Causal conv over (time, frequency): time padding in front, optional depthwise/pointwise split, batch norm,
    activation. Input (B, C, T, F)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, int],
        *,
        fstride: int = 1,
        separable: bool = True,
        activation: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        layers: list[nn.Module] = []
        if kernel[0] > 1:
            layers.append(nn.ConstantPad2d((0, 0, kernel[0] - 1, 0), 0.0))
        groups = math.gcd(in_ch, out_ch) if separable else 1
        separable = groups > 1 and max(kernel) > 1
        layers.append(
            nn.Conv2d(
                in_ch, out_ch, kernel, padding=(0, kernel[1] // 2), stride=(1, fstride), groups=groups, bias=False
            )
        )
        if separable:
            layers.append(nn.Conv2d(out_ch, out_ch, kernel_size=1, bias=False))
        layers.append(nn.BatchNorm2d(out_ch))
        if activation is not None:
            layers.append(activation())
        super().__init__(*layers)


class ConvTranspose2dNormAct(nn.Sequential):
    """Depthwise transposed conv upsampling frequency by ``fstride``, pointwise conv, batch norm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: tuple[int, int], *, fstride: int) -> None:
        groups = math.gcd(in_ch, out_ch)
        pad = kernel_size[1] // 2
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(
                in_ch,
                out_ch,
                kernel_size,
                padding=(kernel_size[0] - 1, pad),
                output_padding=(0, pad),
                stride=(1, fstride),
                groups=groups,
                bias=False,
            )
        ]
        if groups > 1:
            layers.append(nn.Conv2d(out_ch, out_ch, kernel_size=1, bias=False))
        layers += [nn.BatchNorm2d(out_ch), nn.ReLU()]
        super().__init__(*layers)


class GroupedLinearEinsum(nn.Module):
    """A linear layer split into ``groups`` independent blocks (no bias): (B, T, I) → (B, T, H)."""

    def __init__(self, input_size: int, hidden_size: int, groups: int = 1) -> None:
        super().__init__()
        self.groups, self.ws = groups, input_size // groups
        self.weight = nn.Parameter(torch.zeros(groups, input_size // groups, hidden_size // groups))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        x = torch.einsum("btgi,gih->btgh", x.reshape(b, t, self.groups, self.ws), self.weight)
        return x.flatten(2, 3)


class SqueezedGRU(nn.Module):
    """Grouped linear in, GRU, grouped linear out (each linear with ReLU), optional skip."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        *,
        num_layers: int = 1,
        linear_groups: int = 8,
    ) -> None:
        super().__init__()
        self.linear_in = nn.Sequential(GroupedLinearEinsum(input_size, hidden_size, linear_groups), nn.ReLU())
        self.gru = nn.GRU(hidden_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.linear_out: nn.Module = (
            nn.Sequential(GroupedLinearEinsum(hidden_size, output_size, linear_groups), nn.ReLU())
            if output_size is not None
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        x, _ = self.gru(self.linear_in(x))
        return self.linear_out(x)


class Encoder(nn.Module):
    """ERB and complex features → skip tensors e0…e3, the embedding, c0 and the local SNR estimate."""

    def __init__(self) -> None:
        super().__init__()
        self.erb_conv0 = Conv2dNormAct(1, CONV_CH, (3, 3))
        self.erb_conv1 = Conv2dNormAct(CONV_CH, CONV_CH, (1, 3), fstride=2)
        self.erb_conv2 = Conv2dNormAct(CONV_CH, CONV_CH, (1, 3), fstride=2)
        self.erb_conv3 = Conv2dNormAct(CONV_CH, CONV_CH, (1, 3), fstride=1)
        self.df_conv0 = Conv2dNormAct(2, CONV_CH, (3, 3))
        self.df_conv1 = Conv2dNormAct(CONV_CH, CONV_CH, (1, 3), fstride=2)
        emb_dim = CONV_CH * NB_ERB // 4
        self.df_fc_emb = nn.Sequential(
            GroupedLinearEinsum(CONV_CH * NB_DF // 2, emb_dim, groups=ENC_LINEAR_GROUPS), nn.ReLU()
        )
        self.emb_gru = SqueezedGRU(emb_dim, EMB_HIDDEN, emb_dim, num_layers=1, linear_groups=LINEAR_GROUPS)
        self.lsnr_fc = nn.Sequential(nn.Linear(emb_dim, 1), nn.Sigmoid())

    def forward(self, feat_erb: Tensor, feat_spec: Tensor) -> tuple[Tensor, ...]:
        e0 = self.erb_conv0(feat_erb)
        e1 = self.erb_conv1(e0)
        e2 = self.erb_conv2(e1)
        e3 = self.erb_conv3(e2)
        c0 = self.df_conv0(feat_spec)
        c1 = self.df_conv1(c0)
        cemb = self.df_fc_emb(c1.permute(0, 2, 3, 1).flatten(2))
        emb = self.emb_gru(e3.permute(0, 2, 3, 1).flatten(2) + cemb)
        lsnr = self.lsnr_fc(emb) * (LSNR_MAX - LSNR_MIN) + LSNR_MIN
        return e0, e1, e2, e3, emb, c0, lsnr


class ErbDecoder(nn.Module):
    """The embedding and the encoder's skips → ERB gains in [0, 1], (B, 1, T, 32)."""

    def __init__(self) -> None:
        super().__init__()
        emb_dim = CONV_CH * NB_ERB // 4
        self.emb_gru = SqueezedGRU(emb_dim, EMB_HIDDEN, emb_dim, num_layers=2, linear_groups=LINEAR_GROUPS)
        self.conv3p = Conv2dNormAct(CONV_CH, CONV_CH, 1)
        self.convt3 = Conv2dNormAct(CONV_CH, CONV_CH, (1, 3))
        self.conv2p = Conv2dNormAct(CONV_CH, CONV_CH, 1)
        self.convt2 = ConvTranspose2dNormAct(CONV_CH, CONV_CH, (1, 3), fstride=2)
        self.conv1p = Conv2dNormAct(CONV_CH, CONV_CH, 1)
        self.convt1 = ConvTranspose2dNormAct(CONV_CH, CONV_CH, (1, 3), fstride=2)
        self.conv0p = Conv2dNormAct(CONV_CH, CONV_CH, 1)
        self.conv0_out = Conv2dNormAct(CONV_CH, 1, (1, 3), activation=nn.Sigmoid)

    def forward(self, emb: Tensor, e3: Tensor, e2: Tensor, e1: Tensor, e0: Tensor) -> Tensor:
        b, _, t, f8 = e3.shape
        emb = self.emb_gru(emb).view(b, t, f8, -1).permute(0, 3, 1, 2)
        e3 = self.convt3(self.conv3p(e3) + emb)
        e2 = self.convt2(self.conv2p(e2) + e3)
        e1 = self.convt1(self.conv1p(e1) + e2)
        return self.conv0_out(self.conv0p(e0) + e1)


class DfDecoder(nn.Module):
    """The embedding and c0 → deep-filter coefficients (B, T, 96, 10) in [-1, 1] plus a pathway term."""

    def __init__(self) -> None:
        super().__init__()
        emb_dim = CONV_CH * NB_ERB // 4
        out_ch = DF_ORDER * 2
        self.df_convp = Conv2dNormAct(CONV_CH, out_ch, (5, 1))
        self.df_gru = SqueezedGRU(emb_dim, DF_HIDDEN, num_layers=2, linear_groups=8)
        self.df_skip = GroupedLinearEinsum(emb_dim, DF_HIDDEN, groups=LINEAR_GROUPS)
        self.df_out = nn.Sequential(GroupedLinearEinsum(DF_HIDDEN, NB_DF * out_ch, groups=LINEAR_GROUPS), nn.Tanh())
        self.df_fc_a = nn.Sequential(nn.Linear(DF_HIDDEN, 1), nn.Sigmoid())  # unused by the released model

    def forward(self, emb: Tensor, c0: Tensor) -> Tensor:
        b, t, _ = emb.shape
        c = self.df_gru(emb) + self.df_skip(emb)
        c0 = self.df_convp(c0).permute(0, 2, 3, 1)
        return self.df_out(c).view(b, t, NB_DF, DF_ORDER * 2) + c0


class DfNet3(nn.Module):
    """The three sub-networks under the names the released graphs use: ``enc``, ``erb_dec``, ``df_dec``."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = Encoder()
        self.erb_dec = ErbDecoder()
        self.df_dec = DfDecoder()

    def forward(self, feat_erb: Tensor, feat_spec: Tensor) -> tuple[Tensor, Tensor]:
        """(ERB gains (B, 1, T, 32), coefficients (B, T, 96, 10)) for features already shifted by the look-ahead."""
        e0, e1, e2, e3, emb, c0, _ = self.enc(feat_erb, feat_spec)
        return self.erb_dec(emb, e3, e2, e1, e0), self.df_dec(emb, c0)

    def train(self, mode: bool = True) -> DfNet3:
        """Batch norm stays frozen (its statistics are folded into the released weights): fine-tuning with small
        batches updates its scale and shift but never its running statistics."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self
