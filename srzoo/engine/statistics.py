"""Whole-image channel statistics accumulated tile by tile (for overlap tiles of global families)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from srzoo.engine.tiling import Tile
from srzoo.errors import SrzooError


class ImageStatistics:
    """Whole-image channel mean/std of every `ChannelMoments` input, accumulated tile by tile
    over each tile's core (Chan's parallel algorithm, float64 on the CPU).

    `hook(i)` is a forward pre-hook for the i-th module that measures the current tile (see
    `start`); `commit()` adds it once its output has been accepted, so that a tile re-run in
    float32 counts once.
    """

    def __init__(self, count: int) -> None:
        self.n = 0
        self.mean: list[torch.Tensor | float] = [0.0] * count
        self.m2: list[torch.Tensor | float] = [0.0] * count
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = [None] * count  # type: ignore
        self.tile: Tile | None = None

    def start(self, tile: Tile) -> None:
        """Measure `tile` next."""
        self.tile = tile

    def hook(self, index: int) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def measure(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            assert self.tile is not None
            (r0, r1), (e0, e1) = self.tile.rows.core, self.tile.rows.extent
            (c0, c1), (f0, f1) = self.tile.cols.core, self.tile.cols.extent
            x = args[0]
            if tuple(x.shape[-2:]) != (e1 - e0, f1 - f0):
                raise SrzooError(f"tiling: a ChannelMoments input of size {tuple(x.shape[-2:])} "
                                 f"in a tile of size {(e1 - e0, f1 - f0)}")
            core = x[..., r0 - e0:r1 - e0, c0 - f0:c1 - f0].float()
            mean = core.mean(dim=(2, 3), keepdim=True)
            m2 = (core - mean).pow(2).sum(dim=(2, 3), keepdim=True)
            self.pending[index] = (mean.double().cpu(), m2.double().cpu())
        return measure

    def commit(self) -> None:
        """Fold the measured tile into the running totals."""
        assert self.tile is not None
        rows, cols = self.tile.rows.core, self.tile.cols.core
        n_t = (rows[1] - rows[0]) * (cols[1] - cols[0])
        total = self.n + n_t
        for i, (mean_t, m2_t) in enumerate(self.pending):
            delta = mean_t - self.mean[i]
            self.mean[i] = self.mean[i] + delta * (n_t / total)
            self.m2[i] = self.m2[i] + m2_t + delta.pow(2) * (self.n * n_t / total)
        self.n = total

    def moments(self, index: int, with_std: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The i-th module's whole-image (mean, std), float32."""
        mean = torch.as_tensor(self.mean[index]).float()
        std = torch.as_tensor(self.m2[index] / self.n).sqrt().float() if with_std else None
        return mean, std
