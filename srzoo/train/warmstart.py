"""`--init ENTRY_OR_FILE`: start from weights, loading every tensor whose name and shape fit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from srzoo.zoo.convert import read_checkpoint
from srzoo.errors import SrzooError, UsageError
from srzoo.zoo.resolve import resolve_weights
from srzoo.zoo.weightfile import load_weights

_ENTRY = re.compile(r"(?P<name>[\w.-]+?)(?::x?(?P<scale>\d+))?")


@dataclass(frozen=True)
class InitReport:
    """What `load_fitting` took from the source and what it left."""

    source: str
    loaded: list[str]
    fresh: list[str]  # model tensors left at their initial values (absent or another shape)
    unused: list[str]  # source tensors the model has no place for

    def __str__(self) -> str:
        text = f"init from {self.source}: loaded {len(self.loaded)} of {len(self.loaded) + len(self.fresh)} tensors"
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
        match = _ENTRY.fullmatch(spec)
        if match is None:
            raise UsageError(f"--init {spec!r}: not a file, nor a zoo entry like lkdn or lkdn:x4")
        entry_scale = int(match["scale"] or scale)
        path = resolve_weights(match["name"], entry_scale).path
        spec = f"{match['name']} x{entry_scale} ({path})"
    if path.suffix == ".safetensors":
        return load_weights(path)[0], spec
    return read_checkpoint(path)[0], spec


def load_fitting(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> InitReport:
    """Copy into `model` every tensor of `state` whose name and shape match; report the rest."""
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    fresh = [f"{k} {tuple(own[k].shape)}" + (f" (source {tuple(state[k].shape)})" if k in state else "")
             for k in own if k not in fits]
    model.load_state_dict({**own, **fits}, strict=True)
    return InitReport(source, list(fits), fresh, [k for k in state if k not in own])
