"""LKDN's and LKDN-S's breadth-first program (see `srzoo.engine.breadth_first`): every step is
local, each block one step with its own receptive radius, and the fusion 1x1 conv accumulated
block by block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.engine.breadth_first import Local, Step
from srzoo.models.layers import cat_channels, receptive_radius
from srzoo.models.lkdn.network import LKDN


def program(net: nn.Module) -> list[Step] | None:
    """The program of an inference-form LKDN/LKDN-S network, or None for other modules."""
    if not (isinstance(net, LKDN) and net.form == "inference"):
        return None
    s, width = net.scale, net.num_feat
    steps: list[Step] = [Local(lambda x: net.fea_conv(cat_channels(x, x, x, x)), ("x",), ("f0",), 1)]
    for i, block in enumerate(net.blocks(), 1):
        steps.append(Local(block, (f"f{i - 1}",), (f"f{i}",), receptive_radius(block)))
        # c1 over the blocks' concatenation, as a sum of its per-block 1x1 parts, so that only the
        # running sum lives until the tail (not every block's output: 8 full-size maps for LKDN)
        part = net.c1.weight[:, (i - 1) * width:i * width]
        if i == 1:
            steps.append(Local(lambda f, w=part: F.conv2d(f, w, net.c1.bias), ("f1",), ("c1",), 0))
        else:
            steps.append(Local(lambda acc, f, w=part: acc + F.conv2d(f, w), ("c1", f"f{i}"), ("c1",), 0))

    def tail(c1: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        return net.upsampler(net.c2(F.gelu(c1)) + f0)

    steps.append(Local(tail, ("c1", "f0"), ("y",), 2, s))
    return steps
