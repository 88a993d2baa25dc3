"""Exact tiling, breadth-first: the network run stage by stage over all tiles.

A family's network is written here as a *program*: a list of steps over named feature maps
that live on the CPU at full (LR) image size.

- `Local` steps are pixel-local: given crops of their input maps that reach `radius` px beyond a
  tile's core (clipped at the image border, where the network's own zero padding applies), their
  output over the core is exactly the whole-image one. They run tile by tile on the device and
  only the cores are written back, so no blending is needed.
- `Whole` steps are the image-wide parts: the ESA's low-resolution branch (stride-2 conv, 7/3
  max-pool, convs on the small map, bilinear resize back) and channel means/stds (CCA, the
  dynamic units). They run once on whole maps, which is cheap: the ESA branch runs on a quarter
  of the channels at a quarter of the pixels, the statistics are reductions.

Every step therefore sees exactly the values the whole-image forward computes, so the tiled
output equals the whole-image one up to float rounding, at any tile size (tiles may be smaller
than the ESA's pooling window). Peak memory is one tile's activations plus the maps that are
live between steps (for the blocks' concatenation at the end, one map per block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.models.aidn import AIDN, ARFDB, _act as aidn_act
from srzoo.models.alkdn import ALKDB, ALKDN, ALKConv
from srzoo.models.ddistill import DDistillSR, DFDB, _act as dd_act
from srzoo.models.layers import ChannelMoments
from srzoo.models.lkdn import LKDN


@dataclass(frozen=True)
class Local:
    """`fn(*inputs) -> outputs` on tile crops; exact over the core given `radius` px of context.
    `scale` is the output's resolution relative to the LR grid (the upsampler's step)."""

    fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    radius: int
    scale: int = 1


@dataclass(frozen=True)
class Whole:
    """`fn(*inputs) -> outputs` on whole maps; outputs named in `maps` are full-size maps (kept
    on the CPU and cropped per tile), the others small tensors kept on the device."""

    fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    maps: tuple[str, ...] = ()


Step = Local | Whole


@contextmanager
def _overriding(module: ChannelMoments, mean: torch.Tensor, std: torch.Tensor | None = None
                ) -> Iterator[None]:
    module.override = (mean, std)
    try:
        yield
    finally:
        module.override = None


def _cat(*maps: torch.Tensor) -> torch.Tensor:
    return torch.cat(maps, dim=1)


def _tuple(value: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


# ---------------------------------------------------------------------------------- programs

def _alkconv_radius(conv: ALKConv) -> int:
    return max(conv.LoRA1.kernel_size[0], conv.small_conv.kernel_size[0]) // 2


def _alkdb(b: ALKDB, x: str, out: str) -> list[Step]:
    p = f"{out}."

    def stage(c_d: nn.Module, c_r: nn.Module) -> Callable:
        return lambda t: (F.gelu(c_d(t)), F.gelu(c_r(t) + t))

    def fuse(d1, d2, d3, r3):
        y = b.c5(_cat(d1, d2, d3, F.gelu(b.c4(r3))))
        return y, b.esa.conv1(y)

    def finish(z, x_, mean, std):
        with _overriding(b.cca.moments, mean, std):
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


def _alkdn(net: ALKDN) -> list[Step]:
    s, n = net.scale, net.num_blocks
    feats = tuple(f"f{i}" for i in range(1, n + 1))

    def tail(*args):
        *fs, f0, x = args
        t = net.c2(F.gelu(net.c1(_cat(*fs)))) + f0
        return net.to_img(net.c_up(t) + torch.repeat_interleave(x, s * s, dim=1))

    steps: list[Step] = [Local(lambda x: net.fea_conv(_cat(x, x, x, x)), ("x",), ("f0",), 1)]
    for i in range(1, n + 1):
        steps += _alkdb(getattr(net, f"B{i}"), f"f{i - 1}", f"f{i}")
    steps.append(Local(tail, (*feats, "f0", "x"), ("y",), _alkconv_radius(net.c2) + 1, s))
    return steps


def _aidn(net: AIDN) -> list[Step]:
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
        return net.upsampler(net.LR_conv(net.c(_cat(*fs))) + f0)

    steps.append(Local(tail, (*(f"f{i}" for i in range(1, n + 1)), "f0"), ("y",), 2, s))
    return steps


def _dfdb(b: DFDB, x: str, out: str, agg: str) -> list[Step]:
    p = f"{out}."
    steps: list[Step] = []
    src = x
    for k, (c_d, c_r) in enumerate(((b.c1_d, b.c1_r), (b.c2_d, b.c2_r), (b.c3_d, b.c3_r)), 1):
        pool = c_r.unit.dy_branch.pool

        def unit(t, mean, c_d=c_d, c_r=c_r, pool=pool):
            with _overriding(pool, mean):
                r, res = c_r(t)
            return dd_act(c_d(t)), r, res

        steps += [Whole(lambda t, pool=pool: pool(t)[0], (src,), (p + f"m{k}",)),
                  Local(unit, (src, p + f"m{k}"), (p + f"d{k}", p + f"r{k}", p + f"res{k}"),
                        c_r.unit.dbb_reparam.kernel_size[0] // 2)]
        src = p + f"r{k}"

    def fuse(x_, d1, d2, d3, r3, res1, res2, res3):
        o = b.c5(_cat(d1, d2, d3, b.c4(r3)))
        a = torch.sigmoid(b.PAconv(o)) * b.conv1x1(_cat(x_, res1, res2, res3))
        e = o + a
        return e, b.esa.conv1(e), a

    names = ("d1", "d2", "d3", "r3", "res1", "res2", "res3")
    steps += [
        Local(fuse, (x, *(p + n for n in names)), (p + "e", p + "c1", agg), 0),
        Whole(b.esa.lowres, (p + "c1",), (p + "up",), maps=(p + "up",)),
        Local(b.esa.gate, (p + "e", p + "c1", p + "up"), (out,), 0),
    ]
    return steps


def _ddistill(net: DDistillSR) -> list[Step]:
    s, n = net.scale, net.num_blocks
    steps: list[Step] = [Local(net.fea_conv, ("x",), ("f0",), 1)]
    for i in range(1, n + 1):
        steps += _dfdb(getattr(net, f"B{i}"), f"f{i - 1}", f"f{i}", f"g{i}")

    def mix(*args):
        aggs, feats = args[:n], args[n:]
        rc = net.cres(_cat(*aggs))
        yc = net.c(_cat(*feats))
        return yc + torch.sigmoid(net.PAconv(yc)) * rc

    pool = net.LR_conv.unit.dy_branch.pool
    upsampler = getattr(net, f"upsamplerx{s}")

    def tail(u, f0, mean):
        with _overriding(pool, mean):
            z = net.LR_conv(u)[0] + f0
        return upsampler(z).clamp(0, 1)

    steps += [
        Local(mix, (*(f"g{i}" for i in range(1, n + 1)), *(f"f{i}" for i in range(1, n + 1))),
              ("u",), 0),
        Whole(lambda u: pool(u)[0], ("u",), ("m",)),
        Local(tail, ("u", "f0", "m"), ("y",), 3, s),  # LR_conv 3x3, upsampler 3x3, HR 3x3
    ]
    return steps


def _lkdn(net: LKDN) -> list[Step]:
    from srzoo.inference import receptive_radius

    s = net.scale
    steps: list[Step] = [Local(lambda x: net.fea_conv(_cat(x, x, x, x)), ("x",), ("f0",), 1)]
    for i, block in enumerate(net.blocks(), 1):
        steps.append(Local(block, (f"f{i - 1}",), (f"f{i}",), receptive_radius(block)))

    def tail(*args):
        *fs, f0 = args
        return net.upsampler(net.c2(F.gelu(net.c1(_cat(*fs)))) + f0)

    feats = tuple(f"f{i}" for i in range(1, len(net.blocks()) + 1))
    steps.append(Local(tail, (*feats, "f0"), ("y",), 2, s))
    return steps


def program(net: nn.Module) -> list[Step] | None:
    """The breadth-first program of a zoo network (inference form), or None for other modules."""
    if isinstance(net, ALKDN):
        return _alkdn(net)
    if isinstance(net, AIDN):
        return _aidn(net)
    if isinstance(net, DDistillSR) and all(hasattr(m, "dbb_reparam") for m in net.modules()
                                           if type(m).__name__ == "DynamicUnit"):
        return _ddistill(net)
    if isinstance(net, LKDN) and net.form == "inference":
        return _lkdn(net)
    return None


# ---------------------------------------------------------------------------------- executor

def count_tile_runs(steps: Sequence[Step], tiles: int) -> int:
    """How many device calls a run makes (for progress: one per Local step and tile)."""
    return sum(tiles for step in steps if isinstance(step, Local))


def run_program(steps: Sequence[Step], x: torch.Tensor, cores: list[tuple[tuple[int, int], tuple[int, int]]],
                to_device: Callable[[torch.Tensor], torch.Tensor],
                step: Callable[[], None] | None = None) -> torch.Tensor:
    """Run `steps` on the CPU image `x` (B, 3, H, W), Local steps tile by tile over `cores`
    ((r0, r1), (c0, c1)) in LR px. `to_device` moves a CPU crop to the device in the run's memory
    format and dtype. Returns the output map ("y") on the CPU."""
    h, w = x.shape[-2:]
    last_use: dict[str, int] = {}
    for i, st in enumerate(steps):
        for name in st.inputs:
            last_use[name] = i
    maps: dict[str, torch.Tensor] = {"x": x}      # full-size, CPU
    small: dict[str, torch.Tensor] = {}           # statistics, device

    def value(name: str, window: tuple[slice, slice] | None) -> torch.Tensor:
        if name in small:
            return small[name]
        full = maps[name]
        return to_device(full if window is None else full[(..., *window)])

    for i, st in enumerate(steps):
        if isinstance(st, Whole):
            outs = _tuple(st.fn(*(value(n, None) for n in st.inputs)))
            for name, out in zip(st.outputs, outs):
                if name in st.maps:
                    maps[name] = out.cpu().contiguous()
                else:
                    small[name] = out
        else:
            s = st.scale
            fulls: list[torch.Tensor | None] = [None] * len(st.outputs)
            for (r0, r1), (c0, c1) in cores:
                e0, e1 = max(0, r0 - st.radius), min(h, r1 + st.radius)
                f0, f1 = max(0, c0 - st.radius), min(w, c1 + st.radius)
                window = (slice(e0, e1), slice(f0, f1))
                outs = _tuple(st.fn(*(value(n, window) for n in st.inputs)))
                for k, out in enumerate(outs):
                    if fulls[k] is None:
                        fulls[k] = torch.empty(out.shape[0], out.shape[1], h * s, w * s, dtype=out.dtype)
                    fulls[k][..., r0 * s:r1 * s, c0 * s:c1 * s] = \
                        out[..., (r0 - e0) * s:(r1 - e0) * s, (c0 - f0) * s:(c1 - f0) * s].cpu()
                if step is not None:
                    step()
            for name, full in zip(st.outputs, fulls):
                assert full is not None
                maps[name] = full
        for name in st.inputs:
            if last_use.get(name) == i and name != "x":
                maps.pop(name, None)
                small.pop(name, None)
    return maps["y"]
