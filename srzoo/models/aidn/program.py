"""AIDN's breadth-first program (see `srzoo.engine.breadth_first`): blocks tile by tile, the
ESA's low-resolution branch on whole maps."""

from __future__ import annotations

from torch import nn

from srzoo.engine.breadth_first import Local, Step, Whole
from srzoo.models.aidn.network import AIDN, ARFDB
from srzoo.models.layers import cat_channels


def program(net: nn.Module) -> list[Step] | None:
    """The program of an AIDN network, or None for other modules."""
    if not isinstance(net, AIDN):
        return None
    s, n = net.scale, net.num_blocks
    steps: list[Step] = [Local(net.fea_conv, ("x",), ("f0",), 1)]
    for i in range(1, n + 1):
        b: ARFDB = getattr(net, f"B{i}")
        p, src = f"f{i}.", ("f0" if i == 1 else f"f{i - 1}")
        steps += [
            Local(lambda x, b=b: (lambda y: (y, b.mpa.conv1(y)))(b.features(x)), (src,),
                  (p + "y", p + "a"), 4),
            Whole(b.mpa.lowres, (p + "a",), (p + "up",), maps=(p + "up",)),
            Local(b.mpa.gate, (p + "y", p + "a", p + "up"), (f"f{i}",), 0),
        ]

    def tail(*args):
        *fs, f0 = args
        return net.upsampler(net.LR_conv(net.c(cat_channels(*fs))) + f0)

    steps.append(Local(tail, (*(f"f{i}" for i in range(1, n + 1)), "f0"), ("y",), 2, s))
    return steps
