"""Distillation: a zoo entry's output on every training image, computed once, as a second target.

The teacher runs on whole LR images, float32, and its output is kept as a uint8 image, as
`srzoo upscale` would write it: a patch's target is a crop of what the teacher really outputs (no
border effects of running it on a patch), it is held like the HR images, and a training step
costs nothing more than without a teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from srzoo.errors import UsageError
from srzoo.train.data import PatchDataset
from srzoo.train.warmstart import ENTRY_SPEC


def load_teacher(spec: str, scale: int) -> tuple[nn.Module, str]:
    """The zoo entry `NAME` or `NAME:xS` (S must be the training scale), in eval mode, and its name."""
    from srzoo.zoo.resolve import load_pretrained

    match = ENTRY_SPEC.fullmatch(spec.strip())
    if match is None:
        raise UsageError(f"--teacher {spec!r}: not a zoo entry like lkdn or lkdn:x{scale}")
    if match["scale"] is not None and int(match["scale"]) != scale:
        raise UsageError(f"--teacher {spec}: the teacher must upscale x{scale}, as the network being trained")
    return load_pretrained(match["name"], scale), f"{match['name']} x{scale}"


@torch.no_grad()
def teacher_targets(teacher: nn.Module, dataset: PatchDataset, device: torch.device,
                    known: dict[Path, np.ndarray], stop: Callable[[], bool] = lambda: False
                    ) -> dict[Path, np.ndarray]:
    """`known` completed with the teacher's output (uint8 HWC) for every file of
    `dataset`, or for as many as were done when `stop()` became true."""
    teacher = teacher.to(device).eval()
    for index, path in enumerate(dataset.files):
        if stop():
            break
        if path not in known:
            lr = torch.from_numpy(np.ascontiguousarray(dataset.lr_image(index).transpose(2, 0, 1)))
            sr = teacher(lr[None].to(device).float().div_(255))
            known[path] = sr[0].clamp(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return known
