"""DDistill-SR's training recipe: srzoo defaults, as the authors publish only the data."""

from __future__ import annotations

from srzoo.train.recipes import Recipe, Stage


def recipe(family: str, scale: int) -> Recipe:
    """DDistill-SR, training form (DBB branches), folded at export. The authors trained on DF2K
    but publish no loss or schedule, so these are srzoo defaults, not the paper's: RFDN-style
    Adam 5e-4 (0.9, 0.999) halved every 2e5 of 1e6 iterations, batch 64, LR patch 64, L1."""
    return Recipe("ddistill", "training", (Stage(1_000_000, 64, 64, 5e-4, "l1"),), "adam", (0.9, 0.999),
                  schedule="step", step_iters=200_000, gamma=0.5,
                  source="srzoo defaults (RFDN-style); DDistill-SR publishes data (DF2K) only")
