"""ALKDNet's training recipe, as the paper gives it."""

from __future__ import annotations

from srzoo.train.recipes import Recipe, Stage


def recipe(family: str, scale: int) -> Recipe:
    """ALKDNet (Qu & Ke 2024): Adam 1e-3 (0.9, 0.999), cosine decay, 1e6 iterations, batch 64, LR
    patch 48, L1, flips and rotations."""
    return Recipe("alkdn", "inference", (Stage(1_000_000, 64, 48, 1e-3, "l1"),), "adam", (0.9, 0.999),
                  schedule="cosine", source="ALKDNet paper")
