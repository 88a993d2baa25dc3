"""Exact tiling, breadth-first: the network run stage by stage over all tiles.

A family's network is written as a *program* (`srzoo.models.<family>.program`): a list of steps over named feature maps
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

This module is the executor only: it imports no network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


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


def _tuple(value: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


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
        return to_device(full if window is None else full[(...,) + window])

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
                    full = fulls[k]
                    if full is None:
                        full = fulls[k] = torch.empty(out.shape[0], out.shape[1], h * s, w * s, dtype=out.dtype)
                    full[..., r0 * s:r1 * s, c0 * s:c1 * s] = \
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
