"""Tile geometry and feathered blending for tiled inference (no torch modules, no devices).

A tile is the product of two `Span`s. Its *core* is the part of the image it is responsible
for (the cores partition the image); its *extent* is the core grown by the overlap on every
side, which is what the network actually sees. Outputs are blended with weights that are 1 in
the core and ramp linearly across a band of half-width `feather` LR pixels around every
interior core edge, so neighbouring tiles cross-fade and no seam is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in LR pixels: `[core)` is its share, `[extent)` what it runs on."""

    core: tuple[int, int]
    extent: tuple[int, int]


@dataclass(frozen=True)
class Tile:
    """A rectangle of the tile grid."""

    rows: Span
    cols: Span

    def window(self) -> tuple[slice, slice]:
        """The extent as (row, column) slices of the LR image."""
        return slice(*self.rows.extent), slice(*self.cols.extent)


def split_axis(length: int, tile: int, overlap: int, align: int = 1, min_size: int = 1
               ) -> list[Span]:
    """Cut `[0, length)` into cores of at most about `tile` px whose starts, like the extents'
    starts, are multiples of `align`; extents reach `overlap` px (or more) beyond their core and
    are at least `min_size` long."""
    n = math.ceil(length / max(tile, 1))
    bounds = sorted({align * (i * length // (n * align)) for i in range(n)} | {length})
    spans = []
    for c0, c1 in zip(bounds, bounds[1:]):
        e0, e1 = max(0, (c0 - overlap) // align * align), min(length, c1 + overlap)
        if e1 - e0 < min_size:  # only for tiny tiles; the image itself is at least min_size
            e1 = min(length, e0 + min_size)
            e0 = max(0, e1 - min_size)
        spans.append(Span((c0, c1), (e0, e1)))
    return spans


def plan_tiles(height: int, width: int, tile: int, overlap: int, align: int = 1,
               min_size: int = 1) -> list[Tile]:
    """The tile grid, in raster order (see `split_axis`)."""
    rows = split_axis(height, tile, overlap, align, min_size)
    cols = split_axis(width, tile, overlap, align, min_size)
    return [Tile(r, c) for r in rows for c in cols]


def ramp(span: Span, length: int, feather: float, scale: int) -> torch.Tensor:
    """Blend weights along one axis over the span's extent, at output (HR) resolution: 1 in the
    core, linear across `[edge - feather, edge + feather)` at interior core edges, 0 beyond."""
    (c0, c1), (e0, e1) = span.core, span.extent
    centre = torch.arange(e0 * scale, e1 * scale, dtype=torch.float64) + 0.5
    lo = c0 * scale if c0 > 0 else -math.inf
    hi = c1 * scale if c1 < length else math.inf
    if feather <= 0:
        return ((centre > lo) & (centre < hi)).float()
    width = 2 * feather * scale
    up = (centre - lo) / width + 0.5
    down = (hi - centre) / width + 0.5
    return torch.minimum(up, down).clamp(0, 1).float()


class Canvas:
    """The HR output assembled on the CPU as a running weighted mean of tile outputs.

    Each tile updates `out += w / W * (tile - out)` with W the accumulated weight: where a tile
    equals what is already there (the exact interior of a local network) nothing changes, so
    blending identical values is exact in float32.
    """

    def __init__(self, batch: int, height: int, width: int, scale: int, feather: float) -> None:
        self.size, self.scale, self.feather = (height, width), scale, feather
        self.out = torch.zeros(batch, 3, height * scale, width * scale)
        self.weight = torch.zeros(1, 1, height * scale, width * scale)

    def add(self, tile: Tile, result: torch.Tensor) -> None:
        """Blend one tile's HR output (B, 3, s*h, s*w) for the tile's extent into the canvas."""
        s = self.scale
        wy = ramp(tile.rows, self.size[0], self.feather, s)
        wx = ramp(tile.cols, self.size[1], self.feather, s)
        w = (wy[:, None] * wx[None, :])[None, None]
        region = (..., slice(tile.rows.extent[0] * s, tile.rows.extent[1] * s),
                  slice(tile.cols.extent[0] * s, tile.cols.extent[1] * s))
        total = self.weight[region] + w
        self.weight[region] = total
        share = torch.where(total > 0, w / total.clamp_min(1e-12), 0.0)
        self.out[region] += share * (result.float() - self.out[region])
