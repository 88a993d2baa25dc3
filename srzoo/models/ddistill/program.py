"""DDistill-SR's breadth-first program (see `srzoo.engine.breadth_first`): convs tile by tile,
the dynamic units' pooled statistics and the ESA's low-resolution branch on whole maps."""

from __future__ import annotations

import torch
from torch import nn

from srzoo.engine.breadth_first import Local, Step, Whole
from srzoo.models.ddistill.network import DFDB, DDistillSR, DynamicUnit, act
from srzoo.models.layers import cat_channels


def _dfdb(b: DFDB, x: str, out: str, agg: str) -> list[Step]:
    p = f"{out}."
    steps: list[Step] = []
    src = x
    for k, (c_d, c_r) in enumerate(((b.c1_d, b.c1_r), (b.c2_d, b.c2_r), (b.c3_d, b.c3_r)), 1):
        pool = c_r.unit.dy_branch.pool

        def unit(t, mean, c_d=c_d, c_r=c_r, pool=pool):
            with pool.overridden(mean):
                r, res = c_r(t)
            return act(c_d(t)), r, res

        steps += [Whole(lambda t, pool=pool: pool(t)[0], (src,), (p + f"m{k}",)),
                  Local(unit, (src, p + f"m{k}"), (p + f"d{k}", p + f"r{k}", p + f"res{k}"),
                        c_r.unit.dbb_reparam.kernel_size[0] // 2)]
        src = p + f"r{k}"

    def fuse(x_, d1, d2, d3, r3, res1, res2, res3):
        o = b.c5(cat_channels(d1, d2, d3, b.c4(r3)))
        a = torch.sigmoid(b.PAconv(o)) * b.conv1x1(cat_channels(x_, res1, res2, res3))
        e = o + a
        return e, b.esa.conv1(e), a

    names = ("d1", "d2", "d3", "r3", "res1", "res2", "res3")
    steps += [
        Local(fuse, (x, *(p + n for n in names)), (p + "e", p + "c1", agg), 0),
        Whole(b.esa.lowres, (p + "c1",), (p + "up",), maps=(p + "up",)),
        Local(b.esa.gate, (p + "e", p + "c1", p + "up"), (out,), 0),
    ]
    return steps


def program(net: nn.Module) -> list[Step] | None:
    """The program of an inference-form DDistill-SR network, or None for other modules."""
    if not (isinstance(net, DDistillSR) and all(hasattr(m, "dbb_reparam") for m in net.modules()
                                                if isinstance(m, DynamicUnit))):
        return None
    s, n = net.scale, net.num_blocks
    steps: list[Step] = [Local(net.fea_conv, ("x",), ("f0",), 1)]
    for i in range(1, n + 1):
        steps += _dfdb(getattr(net, f"B{i}"), f"f{i - 1}", f"f{i}", f"g{i}")

    def mix(*args):
        aggs, feats = args[:n], args[n:]
        rc = net.cres(cat_channels(*aggs))
        yc = net.c(cat_channels(*feats))
        return yc + torch.sigmoid(net.PAconv(yc)) * rc

    pool = net.LR_conv.unit.dy_branch.pool
    upsampler = getattr(net, f"upsamplerx{s}")

    def tail(u, f0, mean):
        with pool.overridden(mean):
            z = net.LR_conv(u)[0] + f0
        return upsampler(z).clamp(0, 1)

    steps += [
        Local(mix, (*(f"g{i}" for i in range(1, n + 1)), *(f"f{i}" for i in range(1, n + 1))),
              ("u",), 0),
        Whole(lambda u: pool(u)[0], ("u",), ("m",)),
        Local(tail, ("u", "f0", "m"), ("y",), 3, s),  # LR_conv 3x3, upsampler 3x3, HR 3x3
    ]
    return steps
