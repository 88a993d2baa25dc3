"""Validation during training: mean Y-PSNR on a benchmark set, with `srzoo eval`'s own code."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from srzoo.evaluation.datasets import Dataset, find_dataset, folder_dataset
from srzoo.evaluation.evaluate import Contender, evaluate, on_uint8


def val_dataset(spec: str, scale: int, root: Path) -> Dataset:
    """A benchmark name (under `root`), a benchmark-style folder (`HR/`, optional
    `LR_bicubic/X<s>/`) or a plain folder of HR images (LR made by MATLAB bicubic)."""
    folder = Path(spec)
    if not folder.is_dir():
        return find_dataset(spec, root)
    if (folder / "HR").is_dir():
        lr = folder / "LR_bicubic"
        return folder_dataset(folder / "HR", lr if (lr / f"X{scale}").is_dir() else None)
    return folder_dataset(folder)


def validate(model: nn.Module, dataset: Dataset, scale: int, device: torch.device) -> float:
    """Mean PSNR (Y, `scale` border, uint8 output) of `model` on `dataset`; whole images, float32."""
    was_training = model.training
    model.eval()
    try:
        [result] = evaluate([Contender("val", on_uint8(model, device))], dataset, scale)
    finally:
        model.train(was_training)
    return result.psnr
