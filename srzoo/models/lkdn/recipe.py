"""LKDN's and LKDN-S's training recipes, as the paper gives them."""

from __future__ import annotations

from srzoo.train.recipes import Recipe, Stage


def _lkdn(scale: int) -> Recipe:
    """LKDN (Xie et al. 2023): Adan 5e-3 (0.98, 0.92, 0.99) constant, EMA 0.999, 1e6 iterations,
    batch 64, LR patch 48, L1."""
    return Recipe("lkdn", "inference", (Stage(1_000_000, 64, 48, 5e-3, "l1"),), "adan", (0.98, 0.92, 0.99),
                  ema=0.999, source="LKDN paper")


def _lkdn_s(scale: int) -> Recipe:
    """LKDN-S (Xie et al. 2023), training form (RBSB), folded at export. Stage 1: HR patch 256,
    batch 128, L1, lr 5e-3, 9.5e5 iterations; stage 2: HR patch 480, batch 64, L2, lr 2e-5,
    5e4 iterations. Adan (0.98, 0.92, 0.99), constant lr and EMA 0.999 in both."""
    stages = (Stage(950_000, 128, 256 // scale, 5e-3, "l1"), Stage(50_000, 64, 480 // scale, 2e-5, "l2"))
    return Recipe("lkdn-s", "training", stages, "adan", (0.98, 0.92, 0.99), ema=0.999,
                  source="LKDN paper (LKDN-S, NTIRE 2023 efficient SR)")


def recipe(family: str, scale: int) -> Recipe:
    """The published recipe of `family` ("lkdn" or "lkdn-s") at `scale`."""
    return _lkdn_s(scale) if family == "lkdn-s" else _lkdn(scale)
