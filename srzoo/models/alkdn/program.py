"""ALKDNet's breadth-first program (see `srzoo.engine.breadth_first`): convs tile by tile, the
ESA's low-resolution branch and the CCA statistics on whole maps."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.engine.breadth_first import Local, Step, Whole
from srzoo.models.alkdn.network import ALKDB, ALKDN, ALKConv
from srzoo.models.layers import cat_channels


def _alkconv_radius(conv: ALKConv) -> int:
    return max(conv.LoRA1.kernel_size[0], conv.small_conv.kernel_size[0]) // 2


def _alkdb(b: ALKDB, x: str, out: str) -> list[Step]:
    p = f"{out}."

    def stage(c_d: nn.Module, c_r: nn.Module) -> Callable:
        return lambda t: (F.gelu(c_d(t)), F.gelu(c_r(t) + t))

    def fuse(d1, d2, d3, r3):
        y = b.c5(cat_channels(d1, d2, d3, F.gelu(b.c4(r3))))
        return y, b.esa.conv1(y)

    def finish(z, x_, mean, std):
        with b.cca.moments.overridden(mean, std):
            return b.pixel_norm(b.cca(z)) + x_

    return [
        Local(stage(b.c1_d, b.c1_r), (x,), (p + "d1", p + "r1"), _alkconv_radius(b.c1_r)),
        Local(stage(b.c2_d, b.c2_r), (p + "r1",), (p + "d2", p + "r2"), _alkconv_radius(b.c2_r)),
        Local(stage(b.c3_d, b.c3_r), (p + "r2",), (p + "d3", p + "r3"), _alkconv_radius(b.c3_r)),
        Local(fuse, (p + "d1", p + "d2", p + "d3", p + "r3"), (p + "y", p + "a"), _alkconv_radius(b.c4)),
        Whole(b.esa.lowres, (p + "a",), (p + "up",), maps=(p + "up",)),
        Local(b.esa.gate, (p + "y", p + "a", p + "up"), (p + "z",), 0),
        Whole(b.cca.moments, (p + "z",), (p + "mean", p + "std")),
        Local(finish, (p + "z", x, p + "mean", p + "std"), (out,), 0),
    ]


def program(net: nn.Module) -> list[Step] | None:
    if not isinstance(net, ALKDN):
        return None
    s, n = net.scale, net.num_blocks
    feats = tuple(f"f{i}" for i in range(1, n + 1))

    def tail(*args):
        *fs, f0, x = args
        t = net.c2(F.gelu(net.c1(cat_channels(*fs)))) + f0
        return net.to_img(net.c_up(t) + torch.repeat_interleave(x, s * s, dim=1))

    steps: list[Step] = [Local(lambda x: net.fea_conv(cat_channels(x, x, x, x)), ("x",), ("f0",), 1)]
    for i in range(1, n + 1):
        steps += _alkdb(getattr(net, f"B{i}"), f"f{i - 1}", f"f{i}")
    steps.append(Local(tail, (*feats, "f0", "x"), ("y",), _alkconv_radius(net.c2) + 1, s))
    return steps
