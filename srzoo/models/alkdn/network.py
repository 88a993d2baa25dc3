"""ALKDNet: asymmetric large kernel distillation network (Qu & Ke, 2024).

State-dict names follow the official checkpoints (`net_g_ALKDN_x{2,3,4}.pth`, key `params`).
The network has image-global operations (CCA statistics, ESA pooling), hence a minimum input
size of 13 x 13 and `locality="global"`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.models.alkdn import MIN_INPUT_SIZE
from srzoo.models.family import Form
from srzoo.models.layers import (
    BSConvU,
    ChannelLayerNorm,
    ChannelMoments,
    GatedAttention,
)


class ALKConv(nn.Module):
    """Asymmetric large-kernel conv: 1x1, then the GELU'd k x 1, 1 x k and 3x3 depthwise branches
    summed, then a channel LayerNorm (eps 1e-6)."""

    def __init__(self, in_ch: int, out_ch: int, k: int) -> None:
        super().__init__()
        self.pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.LoRA1 = nn.Conv2d(out_ch, out_ch, (k, 1), padding=(k // 2, 0), groups=out_ch)
        self.LoRA2 = nn.Conv2d(out_ch, out_ch, (1, k), padding=(0, k // 2), groups=out_ch)
        self.small_conv = nn.Conv2d(out_ch, out_ch, 3, padding=1, groups=out_ch)
        self.norm = ChannelLayerNorm(out_ch, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.pw(x)
        y = F.gelu(self.LoRA1(t)) + F.gelu(self.LoRA2(t)) + F.gelu(self.small_conv(t))
        return self.norm(y)


class ESA(GatedAttention):
    """ALKDN's enhanced spatial attention: BSConv-U units, GELU, stride-2 conv with padding 1."""

    def __init__(self, channels: int, feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, feat, 1)
        self.conv_f = nn.Conv2d(feat, feat, 1)
        self.conv_max = BSConvU(feat, feat)
        self.conv2 = BSConvU(feat, feat, stride=2)
        self.conv3 = BSConvU(feat, feat)
        self.conv3_ = BSConvU(feat, feat)
        self.conv4 = nn.Conv2d(feat, channels, 1)

    def lowres(self, a: torch.Tensor) -> torch.Tensor:
        """The image-wide part, from `a = conv1(x)`: stride-2 conv, 7/3 max-pool, convs on the
        small map, resized back to `a`'s size."""
        c = F.max_pool2d(self.conv2(a), kernel_size=7, stride=3)
        c = F.gelu(self.conv_max(c))
        c = F.gelu(self.conv3(c))
        c = self.conv3_(c)
        return F.interpolate(c, size=a.shape[-2:], mode="bilinear", align_corners=False)


class CCA(nn.Module):
    """Contrast-aware channel attention: (std + mean) per channel -> 1x1 / ReLU / 1x1 / sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.moments = ChannelMoments(with_std=True)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.moments(x)
        return x * self.conv_du(std + mean)


class ALKDB(nn.Module):
    """Asymmetric large-kernel distillation block."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        d = channels // 2
        self.c1_d = nn.Conv2d(channels, d, 1)
        self.c1_r = ALKConv(channels, channels, k)
        self.c2_d = nn.Conv2d(channels, d, 1)
        self.c2_r = ALKConv(channels, channels, k)
        self.c3_d = nn.Conv2d(channels, d, 1)
        self.c3_r = ALKConv(channels, channels, k)
        self.c4 = ALKConv(channels, d, k)
        self.c5 = nn.Conv2d(4 * d, channels, 1)
        self.esa = ESA(channels, channels // 4)
        self.cca = CCA(channels)
        self.pixel_norm = ChannelLayerNorm(channels, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = F.gelu(self.c1_d(x))
        r1 = F.gelu(self.c1_r(x) + x)
        d2 = F.gelu(self.c2_d(r1))
        r2 = F.gelu(self.c2_r(r1) + r1)
        d3 = F.gelu(self.c3_d(r2))
        r3 = F.gelu(self.c3_r(r2) + r2)
        r4 = F.gelu(self.c4(r3))
        y = self.c5(torch.cat([d1, d2, d3, r4], dim=1))
        return self.pixel_norm(self.cca(self.esa(y))) + x


class ALKDN(nn.Module):
    """ALKDNet: 4x replicated input, BSConv-U head, ALKDBs, ALKConv tail, anchor + PixelShuffle."""

    def __init__(self, scale: int, channels: int = 64, lk_size: int = 9,
                 num_blocks: int = 8) -> None:
        super().__init__()
        self.scale = scale
        self.fea_conv = BSConvU(3 * 4, channels)
        for i in range(1, num_blocks + 1):
            self.add_module(f"B{i}", ALKDB(channels, lk_size))
        self.num_blocks = num_blocks
        self.c1 = nn.Conv2d(channels * num_blocks, channels, 1)
        self.c2 = ALKConv(channels, channels, 3)
        self.c_up = nn.Conv2d(channels, 3 * scale**2, 3, padding=1)
        self.to_img = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"ALKDNet needs an input of at least {MIN_INPUT_SIZE}x"
                             f"{MIN_INPUT_SIZE} pixels, got {x.shape[-2]}x{x.shape[-1]}")
        f0 = self.fea_conv(torch.cat([x] * 4, dim=1))
        feats, f = [], f0
        for i in range(1, self.num_blocks + 1):
            f = getattr(self, f"B{i}")(f)
            feats.append(f)
        t = self.c2(F.gelu(self.c1(torch.cat(feats, dim=1)))) + f0
        anchor = torch.repeat_interleave(x, self.scale**2, dim=1)
        return self.to_img(self.c_up(t) + anchor)


def build(scale: int, form: Form) -> nn.Module:
    """The registry's builder for this family."""
    return ALKDN(scale)
