"""AIDN as released for NTIRE 2022 ESR (HiImageTeam's "ARFDN", team 14).

State-dict names follow `team14_arfdn.pth` with its leading `module.` stripped. The released
build has 4 blocks (241,548 parameters at x4); the paper's AIDN is the same network with 6
blocks (339,498 at x4). The ESA pooling makes the output depend on the whole input, hence a
minimum input size of 15 x 15 and `locality="global"`. The output is not clamped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.models.aidn import MIN_INPUT_SIZE
from srzoo.models.family import Form
from srzoo.models.layers import RFDNESA


def act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.05)


class ARFDB(nn.Module):
    """Asymmetric residual feature distillation block: at each of three stages, a 1x1 distillation
    conv plus two asymmetric paths ((3x1, 1x3) and (1x3, 3x1)); distilled features are re-added to
    the trunk; a 3x3 conv, a 1x1 fusion of [d1, d2, d3, r4] and the ESA (`mpa`). No identity skip."""

    c0_d: nn.Conv2d  # the distillation convs, registered by name in __init__
    c1_d: nn.Conv2d
    c2_d: nn.Conv2d

    def __init__(self, channels: int) -> None:
        super().__init__()
        dc = channels // 2
        for stage in (1, 2, 3):
            in_ch = channels if stage == 1 else dc
            self.add_module(f"c{stage - 1}_d", nn.Conv2d(in_ch, dc, 1))
            self.add_module(f"c{stage}_l1", nn.Conv2d(in_ch, dc, (3, 1), padding=(1, 0)))
            self.add_module(f"c{stage}_l2", nn.Conv2d(dc, dc, (1, 3), padding=(0, 1)))
            self.add_module(f"c{stage}_m1", nn.Conv2d(in_ch, dc, (1, 3), padding=(0, 1)))
            self.add_module(f"c{stage}_m2", nn.Conv2d(dc, dc, (3, 1), padding=(1, 0)))
        self.c4 = nn.Conv2d(dc, dc, 3, padding=1)
        self.c5 = nn.Conv2d(4 * dc, channels, 1)
        self.mpa = RFDNESA(channels, channels // 4)

    def _paths(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """Sum of the stage's vertical-horizontal and horizontal-vertical paths."""
        l1, l2, m1, m2 = (getattr(self, f"c{stage}_{n}") for n in ("l1", "l2", "m1", "m2"))
        return l2(act(l1(x))) + m2(act(m1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mpa(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the ESA (local: a receptive radius of 4 px)."""
        d1 = act(self.c0_d(x))
        r1 = act(self._paths(1, x) + d1)
        d2 = act(self.c1_d(r1))
        r2 = act(self._paths(2, r1) + r1 + d2 + d1)
        d3 = act(self.c2_d(r2))
        r3 = act(self._paths(3, r2) + r2 + d3 + d2 + d1)
        r4 = act(self.c4(r3))
        return self.c5(torch.cat([d1, d2, d3, r4], dim=1))


class AIDN(nn.Module):
    """ARFDN / AIDN: 3x3 head, `num_blocks` ARFDBs, 1x1 fusion + LeakyReLU(0.1), 3x3 conv with a
    long skip, 3x3 conv to 3*s^2 channels and PixelShuffle(s)."""

    def __init__(self, scale: int, num_feat: int = 50, num_blocks: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.num_blocks = num_blocks
        self.fea_conv = nn.Conv2d(3, num_feat, 3, padding=1)
        for i in range(1, num_blocks + 1):
            self.add_module(f"B{i}", ARFDB(num_feat))
        self.c = nn.Sequential(nn.Conv2d(num_blocks * num_feat, num_feat, 1), nn.LeakyReLU(0.1))
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsampler = nn.Sequential(nn.Conv2d(num_feat, 3 * scale**2, 3, padding=1),
                                       nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"AIDN needs an input of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} "
                             f"pixels, got {x.shape[-2]}x{x.shape[-1]}")
        f0 = self.fea_conv(x)
        feats = []
        f = f0
        for i in range(1, self.num_blocks + 1):
            f = getattr(self, f"B{i}")(f)
            feats.append(f)
        z = self.LR_conv(self.c(torch.cat(feats, dim=1))) + f0
        return self.upsampler(z)


def build(scale: int, form: Form) -> nn.Module:
    """The registry's builder for this family."""
    return AIDN(scale)
