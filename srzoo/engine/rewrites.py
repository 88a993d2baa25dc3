"""Exact inference rewrites: layers replaced by faster ones that compute the same function.

The results equal the original layers' up to float rounding (the sums run in another order);
weights are shared, not copied. The reference networks in `srzoo.models` stay as the papers
describe them; the engine rewrites its own copy.

- A dilated convolution with stride 1 and "same" zero padding (LKDN's 5x5 depthwise conv with
  dilation 3) becomes a plain convolution on the image's d x d phases: pixel (d*i + p, d*j + q)
  only ever meets pixels of its own phase (p, q), so the image is split into d*d interleaved
  sub-images, batched, convolved without dilation, and interleaved back. oneDNN has no fast
  kernel for dilated depthwise convolutions; the plain one is 5-15x faster than the dilated one
  and the two reshuffles cost less than the difference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether a 4-d tensor is laid out NHWC (and not also NCHW, as when C or H*W is 1)."""
    return (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous())


def split_phases(x: torch.Tensor, d: int) -> torch.Tensor:
    """(B, C, H, W) with H and W multiples of d -> (B*d*d, C, H/d, W/d): sub-image (p, q) holds
    the pixels (d*i + p, d*j + q). Keeps the memory format."""
    b, c, h, w = x.shape
    if is_channels_last(x):
        y = x.permute(0, 2, 3, 1).reshape(b, h // d, d, w // d, d, c).permute(0, 2, 4, 1, 3, 5)
        return y.reshape(b * d * d, h // d, w // d, c).permute(0, 3, 1, 2)
    y = x.reshape(b, c, h // d, d, w // d, d).permute(0, 3, 5, 1, 2, 4)
    return y.reshape(b * d * d, c, h // d, w // d)


def merge_phases(y: torch.Tensor, d: int) -> torch.Tensor:
    """The inverse of `split_phases`."""
    n, c, hd, wd = y.shape
    b = n // (d * d)
    if is_channels_last(y):
        x = y.permute(0, 2, 3, 1).reshape(b, d, d, hd, wd, c).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, hd * d, wd * d, c).permute(0, 3, 1, 2)
    x = y.reshape(b, d, d, c, hd, wd).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c, hd * d, wd * d)


class PhaseSplitConv2d(nn.Conv2d):
    """A dilated, stride-1, "same"-padded `nn.Conv2d` run as a plain convolution on the input's
    dilation x dilation phases (module docstring). Still a `Conv2d` with the original's
    attributes (so receptive fields and FLOPs count as before), sharing its weight and bias."""

    def __init__(self, conv: nn.Conv2d) -> None:
        if not phase_splittable(conv):
            raise ValueError(f"not a dilated stride-1 'same' convolution: {conv}")
        kh, kw = conv.kernel_size
        d = conv.dilation[0]
        super().__init__(conv.in_channels, conv.out_channels, (kh, kw), padding=(d * (kh // 2), d * (kw // 2)),
                         dilation=(d, d), groups=conv.groups, bias=conv.bias is not None, device="meta")
        self.weight = conv.weight
        self.bias = conv.bias
        self.phase_padding = (kh // 2, kw // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dilation[0]
        h, w = x.shape[-2:]
        extra_h, extra_w = -h % d, -w % d
        if extra_h or extra_w:  # zeros past the edge are what the padding would have read
            x = F.pad(x, (0, extra_w, 0, extra_h))
        y = F.conv2d(split_phases(x, d), self.weight, self.bias, padding=self.phase_padding,
                     groups=self.groups)
        y = merge_phases(y, d)
        return y[..., :h, :w] if extra_h or extra_w else y


def phase_splittable(conv: nn.Conv2d) -> bool:
    """A conv `PhaseSplitConv2d` can run: equal dilation > 1 on both axes, stride 1, odd kernel,
    zero padding of dilation * (kernel // 2)."""
    d = conv.dilation
    k = conv.kernel_size
    return (type(conv) is nn.Conv2d and d[0] == d[1] and d[0] > 1 and conv.stride == (1, 1)
            and conv.padding_mode == "zeros" and all(n % 2 == 1 for n in k)
            and conv.padding == (d[0] * (k[0] // 2), d[1] * (k[1] // 2)))


def rewrite_for_inference(model: nn.Module) -> nn.Module:
    """Replace, in place, every layer that has an exact faster form; returns `model`."""
    for name, child in model.named_children():
        if isinstance(child, nn.Conv2d) and phase_splittable(child):
            setattr(model, name, PhaseSplitConv2d(child))
        else:
            rewrite_for_inference(child)
    return model
