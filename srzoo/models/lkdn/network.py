"""LKDN and LKDN-S (Xie et al., "Large Kernel Distillation Network", CVPRW 2023).

Two forms share one class: "inference" (plain BSConv-U everywhere, 3x3 conv + PixelShuffle
upsampler) and "training" (RBSB re-parameterisable blocks for `c{1,2,3}_r` of every LKDB and a
four-branch upsampler). `fold_lkdn` turns the training form into the inference form exactly.
State-dict names match the official checkpoints (see the spec, sections 4-6 and 9).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.models.family import Form
from srzoo.models.layers import BSConvU, ChannelLayerNorm, conv_bias


class RBSB(nn.Module):
    """Re-parameterisable BSConv-U (C -> C): t = pw(u) + u; v = dw(t) + t + rep1x1(t)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pw = nn.Conv2d(channels, channels, 1, bias=False)
        self.dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.rep1x1 = nn.Conv2d(channels, channels, 1, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.pw(x) + x
        return self.dw(t) + t + self.rep1x1(t)

    @torch.no_grad()
    def fold(self) -> BSConvU:
        """The equivalent plain BSConv-U."""
        c = self.pw.out_channels
        out = BSConvU(c, c).to(self.pw.weight)
        out.pw.weight.copy_(self.pw.weight + torch.eye(c).to(self.pw.weight)[:, :, None, None])
        centre = F.pad(1 + self.rep1x1.weight, (1, 1, 1, 1))  # (C, 1, 3, 3), 1 + scale at [1, 1]
        out.dw.weight.copy_(self.dw.weight + centre)
        conv_bias(out.dw).copy_(conv_bias(self.dw) + conv_bias(self.rep1x1))
        return out


class RepUpsampler(nn.Module):
    """Training upsampler: conv1(u) + conv3(u) + conv3x3(conv1x1(pad(u))), then PixelShuffle."""

    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        out = 3 * scale**2
        self.conv1 = nn.Conv2d(channels, out, 1)
        self.conv3 = nn.Conv2d(channels, out, 3, padding=1)
        self.conv1x1 = nn.Conv2d(channels, 2 * channels, 1)
        self.conv3x3 = nn.Conv2d(2 * channels, out, 3)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x) + self.conv3(x) + self.conv3x3(self.conv1x1(F.pad(x, (1, 1, 1, 1))))
        return self.shuffle(y)

    @torch.no_grad()
    def fold(self) -> nn.Sequential:
        """The equivalent `Sequential(3x3 conv, PixelShuffle)`."""
        k1 = self.conv1x1.weight[:, :, 0, 0]  # (2C, C)
        k3 = self.conv3x3.weight  # (O, 2C, 3, 3)
        weight = (self.conv3.weight + torch.einsum("omuv,mi->oiuv", k3, k1)
                  + F.pad(self.conv1.weight, (1, 1, 1, 1)))
        bias = (conv_bias(self.conv1) + conv_bias(self.conv3) + conv_bias(self.conv3x3)
                + torch.einsum("omuv,m->o", k3, conv_bias(self.conv1x1)))
        conv = nn.Conv2d(self.conv3.in_channels, self.conv3.out_channels, 3, padding=1).to(weight)
        conv.weight.copy_(weight)
        conv_bias(conv).copy_(bias)
        return nn.Sequential(conv, nn.PixelShuffle(self.shuffle.upscale_factor))


class LargeKernelAttention(nn.Module):
    """1x1 conv -> depthwise 5x5 -> depthwise 5x5 dilation 3; multiplies its own input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(channels, channels, 1)
        self.depthwise = nn.Conv2d(channels, channels, 5, padding=2, groups=channels)
        self.depthwise_dilated = nn.Conv2d(channels, channels, 5, padding=6, dilation=3,
                                           groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.depthwise_dilated(self.depthwise(self.pointwise(x)))


class LKDB(nn.Module):
    """Large Kernel Distillation Block (no shortcut inside the distillation steps)."""

    def __init__(self, channels: int, form: Form) -> None:
        super().__init__()
        d = channels // 2

        def remaining() -> nn.Module:
            return RBSB(channels) if form == "training" else BSConvU(channels, channels)

        self.c1_d = nn.Conv2d(channels, d, 1)
        self.c1_r = remaining()
        self.c2_d = nn.Conv2d(channels, d, 1)
        self.c2_r = remaining()
        self.c3_d = nn.Conv2d(channels, d, 1)
        self.c3_r = remaining()
        self.c4 = BSConvU(channels, d)
        self.c5 = nn.Conv2d(4 * d, channels, 1)
        self.atten = LargeKernelAttention(channels)
        self.c6 = nn.Conv2d(channels, channels, 1)
        self.pixel_norm = ChannelLayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = F.gelu(self.c1_d(x))
        r1 = F.gelu(self.c1_r(x))
        d2 = F.gelu(self.c2_d(r1))
        r2 = F.gelu(self.c2_r(r1))
        d3 = F.gelu(self.c3_d(r2))
        r3 = F.gelu(self.c3_r(r2))
        r4 = F.gelu(self.c4(r3))
        y = self.c5(torch.cat([d1, d2, d3, r4], dim=1))
        return self.pixel_norm(self.c6(self.atten(y))) + x


class LKDN(nn.Module):
    """LKDN network: input x4 copies -> BSConv-U -> N LKDBs -> fusion -> tail + skip -> upsampler.

    LKDN is `LKDN(56, 8, s)`, LKDN-S is `LKDN(42, 5, s)`. Blocks are named `B1` ... `BN`.
    """

    def __init__(self, num_feat: int, num_blocks: int, scale: int,
                 form: Form = "inference") -> None:
        super().__init__()
        self.num_feat, self.num_blocks, self.scale, self.form = num_feat, num_blocks, scale, form
        self.fea_conv = BSConvU(3 * 4, num_feat)
        for i in range(1, num_blocks + 1):
            setattr(self, f"B{i}", LKDB(num_feat, form))
        self.c1 = nn.Conv2d(num_feat * num_blocks, num_feat, 1)
        self.c2 = BSConvU(num_feat, num_feat)
        if form == "training":
            self.upsampler: nn.Module = RepUpsampler(num_feat, scale)
        else:
            self.upsampler = nn.Sequential(nn.Conv2d(num_feat, 3 * scale**2, 3, padding=1),
                                           nn.PixelShuffle(scale))

    def blocks(self) -> list[LKDB]:
        return [getattr(self, f"B{i}") for i in range(1, self.num_blocks + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.fea_conv(torch.cat([x] * 4, dim=1))
        feats = []
        f = f0
        for block in self.blocks():
            f = block(f)
            feats.append(f)
        f = F.gelu(self.c1(torch.cat(feats, dim=1)))
        return self.upsampler(self.c2(f) + f0)


def fold_lkdn(model: nn.Module) -> nn.Module:
    """Fold a training-form LKDN/LKDN-S into an equivalent inference-form network (eval mode)."""
    if not isinstance(model, LKDN) or model.form != "training":
        raise ValueError("fold_lkdn expects a training-form LKDN network")
    folded = copy.deepcopy(model)
    for block in folded.blocks():
        for name in ("c1_r", "c2_r", "c3_r"):
            setattr(block, name, getattr(block, name).fold())
    assert isinstance(folded.upsampler, RepUpsampler)  # the training form's
    folded.upsampler = folded.upsampler.fold()
    folded.form = "inference"
    return folded.eval()


def build_lkdn(scale: int, form: Form) -> nn.Module:
    """The registry's builder for LKDN (56 channels, 8 blocks)."""
    return LKDN(56, 8, scale, form)


def build_lkdn_s(scale: int, form: Form) -> nn.Module:
    """The registry's builder for LKDN-S (42 channels, 5 blocks)."""
    return LKDN(42, 5, scale, form)
