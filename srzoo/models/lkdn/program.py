"""LKDN's and LKDN-S's breadth-first program (see `srzoo.engine.breadth_first`): every step is
local, each block one step with its own receptive radius."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from srzoo.engine.breadth_first import Local, Step
from srzoo.models.layers import cat_channels, receptive_radius
from srzoo.models.lkdn.network import LKDN


def program(net: nn.Module) -> list[Step] | None:
    """The program of an inference-form LKDN/LKDN-S network, or None for other modules."""
    if not (isinstance(net, LKDN) and net.form == "inference"):
        return None
    s = net.scale
    steps: list[Step] = [Local(lambda x: net.fea_conv(cat_channels(x, x, x, x)), ("x",), ("f0",), 1)]
    for i, block in enumerate(net.blocks(), 1):
        steps.append(Local(block, (f"f{i - 1}",), (f"f{i}",), receptive_radius(block)))

    def tail(*args):
        *fs, f0 = args
        return net.upsampler(net.c2(F.gelu(net.c1(cat_channels(*fs)))) + f0)

    feats = tuple(f"f{i}" for i in range(1, len(net.blocks()) + 1))
    steps.append(Local(tail, (*feats, "f0"), ("y",), 2, s))
    return steps
