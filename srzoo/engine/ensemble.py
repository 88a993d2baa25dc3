"""Self-ensemble: the eight flips and rotations of an image, and their inverses."""

from __future__ import annotations

import torch

# The dihedral group as (flip left-right, quarter turns); the identity first.
DIHEDRAL: tuple[tuple[bool, int], ...] = tuple((f, k) for f in (False, True) for k in range(4))


def transform(x: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    return torch.rot90(x.flip(-1) if flip else x, turns, (-2, -1))


def inverse(y: torch.Tensor, flip: bool, turns: int) -> torch.Tensor:
    y = torch.rot90(y, -turns, (-2, -1))
    return y.flip(-1) if flip else y
