"""Optimizer, loss and EMA of a recipe (the LR schedule is `Recipe.lr_at`, a pure function)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from srzoo.errors import SrzooError
from srzoo.train.recipes import Recipe, Stage

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
_Tensors = tuple[torch.Tensor, ...] | list[torch.Tensor]  # a group of tensors, as AveragedModel passes them
_LOSSES: dict[str, LossFn] = {"l1": F.l1_loss, "l2": F.mse_loss}


def make_optimizer(model: nn.Module, recipe: Recipe, stage: Stage) -> torch.optim.Optimizer:
    """A fresh optimizer for one stage (Adam from torch, Adan from pytorch-optimizer)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        betas = cast("tuple[float, float]", recipe.betas)  # Recipe.check: two for Adam
        return torch.optim.Adam(params, lr=stage.lr, betas=betas, weight_decay=recipe.weight_decay)
    try:
        from pytorch_optimizer import Adan  # noqa: PLC0415  optional dependency: srzoo[train]
    except ImportError as exc:
        raise SrzooError("the Adan optimizer needs pytorch-optimizer: pip install 'srzoo[train]'") from exc
    adan_betas = cast("tuple[float, float, float]", recipe.betas)  # Recipe.check: three for Adan
    return Adan(params, lr=stage.lr, betas=adan_betas, weight_decay=recipe.weight_decay)


def loss_function(name: str) -> LossFn:
    """L1 or L2 (mean squared error) on pixels in [0, 1]."""
    return _LOSSES[name]


def make_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of `model`'s parameters and buffers (None when `decay` is 0).

    It starts as a copy; the n-th `update_parameters(model)` then does
    ema = d·ema + (1-d)·model with d = min(decay, (1 + n) / (10 + n)): the usual warm-up, so that
    the average does not hold on to the random initial weights for thousands of iterations. For
    decay 0.999 the warm-up is over after 9,000 updates (a paper's 1e6-iteration run is unaffected).
    """
    if decay <= 0:
        return None
    ema = AveragedModel(model, multi_avg_fn=_warmup_ema(decay), use_buffers=True)
    ema.update_parameters(model)  # the first update copies, so the next one already averages
    return ema


def _warmup_ema(decay: float) -> Callable[[_Tensors, _Tensors, torch.Tensor | int], None]:
    """AveragedModel's update for one group of same-dtype tensors, after `n_averaged` updates."""
    def update(averaged: _Tensors, current: _Tensors, n_averaged: torch.Tensor | int) -> None:
        n = int(n_averaged)
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1 - min(decay, (1 + n) / (10 + n)))
        else:  # integer buffers (BatchNorm's num_batches_tracked) follow the model
            torch._foreach_copy_(averaged, current)
    return update
