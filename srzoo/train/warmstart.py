"""`--init ENTRY_OR_FILE`: start from weights, loading every tensor whose name and shape fit.

A sub-pixel layer of another scale (the conv before PixelShuffle: C x S^2 outputs in the source,
C x s^2 here) is resampled rather than left random: each of the new scale's sub-pixel positions
takes the linear interpolation of the source's filters at the same place inside the LR pixel.
x4 -> x2 makes the new network start as the x4 network followed by a 2x2 average.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from srzoo.errors import SrzooError, UsageError
from srzoo.zoo.convert import read_checkpoint
from srzoo.zoo.resolve import resolve_weights
from srzoo.zoo.weightfile import load_weights

ENTRY_SPEC = re.compile(r"(?P<name>[\w.-]+?)(?::x?(?P<scale>\d+))?")


@dataclass(frozen=True)
class InitReport:
    """What `load_fitting` took from the source and what it left."""

    source: str
    loaded: list[str]
    fresh: list[str]  # model tensors left at their initial values (absent or another shape)
    unused: list[str]  # source tensors the model has no place for
    resampled: list[str] = field(default_factory=list)  # sub-pixel layers taken from another scale

    def __str__(self) -> str:
        total = len(self.loaded) + len(self.resampled) + len(self.fresh)
        text = f"init from {self.source}: loaded {len(self.loaded)} of {total} tensors"
        if self.resampled:
            text += f"; resampled to this scale's sub-pixel positions: {', '.join(self.resampled)}"
        if self.fresh:
            text += f"; starting fresh: {', '.join(self.fresh)}"
        if self.unused:
            text += f"; unused from the source: {', '.join(self.unused)}"
        return text


def read_init(spec: str, scale: int) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors named by `spec`: a file (.safetensors, or a .pth/.pt checkpoint), or a zoo entry
    `NAME` (at the training scale) or `NAME:xS` (e.g. `lkdn:x4`). Returns (state, description)."""
    path = Path(spec)
    if not path.is_file() and path.suffix in (".safetensors", ".pth", ".pt"):
        raise SrzooError(f"--init: file not found: {spec}")
    if not path.is_file():
        match = ENTRY_SPEC.fullmatch(spec)
        if match is None:
            raise UsageError(f"--init {spec!r}: not a file, nor a zoo entry like lkdn or lkdn:x4")
        entry_scale = int(match["scale"] or scale)
        path = resolve_weights(match["name"], entry_scale).path
        spec = f"{match['name']} x{entry_scale} ({path})"
    if path.suffix == ".safetensors":
        return load_weights(path)[0], spec
    return read_checkpoint(path)[0], spec


def new_parameters(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Names of `model`'s parameters that `state` supplies no tensor of the same shape for."""
    return [name for name, p in model.named_parameters()
            if name not in state or tuple(state[name].shape) != tuple(p.shape)]


def load_fitting(model: nn.Module, state: dict[str, torch.Tensor], source: str, scale: int) -> InitReport:
    """Copy into `model` (at `scale`) every tensor of `state` whose name and shape match, resample
    sub-pixel layers of another scale; report the rest."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    resampled = {}
    for name in own.keys() & state.keys() - fits.keys():
        source_scale = _subpixel_source_scale(tuple(state[name].shape), tuple(own[name].shape), scale)
        if source_scale is not None:
            resampled[name] = resample_subpixels(state[name], source_scale, scale)
    fresh = [f"{k} {tuple(own[k].shape)}" + (f" (source {tuple(state[k].shape)})" if k in state else "")
             for k in own if k not in fits and k not in resampled]
    model.load_state_dict({**own, **fits, **resampled}, strict=True)
    return InitReport(source, list(fits), fresh, [k for k in state if k not in own], sorted(resampled))


def _subpixel_source_scale(source: tuple[int, ...], own: tuple[int, ...], scale: int) -> int | None:
    """The source's scale S when `source` is `own` with C x S^2 instead of C x scale^2 rows."""
    if source[1:] != own[1:] or own[0] % scale**2:
        return None
    channels = own[0] // scale**2
    return next((s for s in range(2, 9) if s != scale and channels * s**2 == source[0]), None)


def resample_subpixels(tensor: torch.Tensor, source_scale: int, scale: int) -> torch.Tensor:
    """A PixelShuffle input layer's weight or bias (C*S^2 rows, channel-major) for `scale`: row
    (c, i, j) is the bilinear interpolation of the source rows (c, k, l) at sub-pixel (i, j)."""
    weights = _interpolation(source_scale, scale).to(tensor.dtype)
    grid = tensor.reshape(-1, source_scale, source_scale, *tensor.shape[1:])
    out = torch.einsum("ik,jl,ckl...->cij...", weights, weights, grid)
    return out.reshape(-1, *tensor.shape[1:]).contiguous()


def _interpolation(source_scale: int, scale: int) -> torch.Tensor:
    """(scale, source_scale) linear-interpolation weights between sub-pixel centres, (k + 0.5) / S
    in the source and (i + 0.5) / s here, in LR-pixel units; clamped at the pixel's edges."""
    weights = torch.zeros(scale, source_scale, dtype=torch.float64)
    for i in range(scale):
        position = min(max((i + 0.5) / scale * source_scale - 0.5, 0.0), source_scale - 1.0)
        low = min(int(position), source_scale - 2)
        weights[i, low] += low + 1 - position
        weights[i, low + 1] += position - low
    return weights
