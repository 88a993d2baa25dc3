"""Building blocks shared by several families."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class BSConvU(nn.Module):
    """Blueprint-separable conv (unconstrained): 1x1 point-wise (no bias), then k x k depthwise (bias).

    State-dict names: `pw.weight`, `dw.weight`, `dw.bias`.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.dw = nn.Conv2d(out_ch, out_ch, kernel_size, stride=stride, padding=kernel_size // 2,
                            groups=out_ch, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis at every pixel of an NCHW map (keys `weight`, `bias`)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


class GatedAttention(nn.Module):
    """The shape every ESA variant shares: `a = conv1(x)`, an image-wide `lowres(a)` branch, and a
    pixel-wise gate `x * sigmoid(conv4(lowres(a) + conv_f(a)))`. Exact tiling calls `lowres` once
    on the whole map and `gate` per tile. Subclasses define the convs and `lowres`."""

    conv1: nn.Module
    conv_f: nn.Module
    conv4: nn.Module

    def lowres(self, a: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def gate(self, x: torch.Tensor, a: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """The pixel-wise part, given `a = conv1(x)` and `up = lowres(a)`."""
        return x * torch.sigmoid(self.conv4(up + self.conv_f(a)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv1(x)
        return self.gate(x, a, self.lowres(a))


class RFDNESA(GatedAttention):
    """Enhanced spatial attention as in RFDN (used by AIDN and DDistill-SR).

    conv1 (1x1) -> conv2 (3x3, stride 2, no padding) -> max-pool 7/3 -> relu(conv_max) ->
    relu(conv3) -> conv3_ -> bilinear resize to input size -> + conv_f(conv1 out) -> conv4 -> sigmoid,
    multiplied with the input. Needs an input of at least 15 x 15.
    """

    def __init__(self, channels: int, feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, feat, 1)
        self.conv_f = nn.Conv2d(feat, feat, 1)
        self.conv_max = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv2 = nn.Conv2d(feat, feat, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv3_ = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv4 = nn.Conv2d(feat, channels, 1)

    def lowres(self, c1_: torch.Tensor) -> torch.Tensor:
        """The image-wide part: stride-2 conv, 7/3 max-pool, three convs on the small map, resized
        back to `c1_`'s size (what exact tiling computes once over the whole image)."""
        c1 = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        v = F.relu(self.conv_max(c1))
        c3 = F.relu(self.conv3(v))
        c3 = self.conv3_(c3)
        return F.interpolate(c3, size=c1_.shape[-2:], mode="bilinear", align_corners=False)


def conv_bias(conv: nn.Conv2d) -> torch.Tensor:
    """The bias of a convolution built with one (`bias=True`, the default)."""
    assert conv.bias is not None, "convolution without a bias"
    return conv.bias


def receptive_radius(model: nn.Module) -> int:
    """An upper bound of a conv-only network's receptive radius in input pixels: the sum over
    all its convolutions (every path's radius is at most that). Exact for LKDN: 3 + 12 per block
    (3x3 head; four 3x3, a 5x5 and a 5x5 dilated-3 conv per block; 3x3 tail and upsampler)."""
    return sum(max(d * (k - 1) // 2 for d, k in zip(m.dilation, m.kernel_size))
               for m in model.modules() if isinstance(m, nn.Conv2d))


def cat_channels(*maps: torch.Tensor) -> torch.Tensor:
    """The maps concatenated along the channel axis."""
    return torch.cat(maps, dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class ChannelMoments(nn.Module):
    """Per-image, per-channel spatial mean (and, optionally, population std) of a feature map.

    This is the only way a network in srzoo may look at image-wide statistics, so that tiled
    inference can find every such place and substitute values computed on the whole image:
    set `override` to a `(mean, std)` pair of shape (B, C, 1, 1) and the module returns it
    instead of measuring the input. With `override` None it measures (the normal case).
    """

    def __init__(self, with_std: bool) -> None:
        super().__init__()
        self.with_std = with_std
        self.override: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.override is not None:
            mean, std = self.override
            return mean.to(x.dtype), (None if std is None else std.to(x.dtype))
        mean = x.mean(dim=(2, 3), keepdim=True)
        if not self.with_std:
            return mean, None
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()
        return mean, std

    @contextmanager
    def overridden(self, mean: torch.Tensor, std: torch.Tensor | None = None) -> Iterator[None]:
        """Return (mean, std) instead of measuring, inside the block."""
        self.override = (mean, std)
        try:
            yield
        finally:
            self.override = None
