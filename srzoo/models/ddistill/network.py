"""DDistill-SR: reparameterised dynamic distillation network (Wang et al., IEEE TMM 2022).

Two forms share one topology. In the inference form each dynamic unit's static path is one 3x3
conv (`dbb_reparam`), with keys as in `DDistill-SRx4_inference.pth`; in the training form it is
the sum of four diverse-branch (DBB) paths, which `fold_ddistill` merges into that conv. The
dynamic branch pools over the whole image and the ESA pools too, hence `locality="global"` and a
minimum input size of 15 x 15. The output is clamped to [0, 1] inside forward.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from srzoo.models.ddistill import MIN_INPUT_SIZE
from srzoo.models.family import Form
from srzoo.models.layers import RFDNESA, ChannelMoments


def act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.05)


class Hsigmoid(nn.Module):
    """relu6(x + 3) / 3: note the divisor 3, so the range is [0, 2]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3) / 3


class SEGate(nn.Module):
    """y * hsig(linear(y)); key `fc.0.weight`."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(width, width, bias=False), Hsigmoid())

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y * self.fc(y)


class DynamicBranch(nn.Module):
    """From the image-wide channel means: a channel scale `s` in [0, 2] and an L x L mixing matrix
    Phi; returns `s` (B, C, 1, 1) and the dynamic term p(bn2(Phi . bn1(q(x))) + bn1(q(x)))."""

    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        squeeze = max(channels, dim * dim) // 16
        self.dim = dim
        self.q = nn.Conv2d(channels, dim, 1, bias=False)
        self.p = nn.Conv2d(dim, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(dim)
        self.bn2 = nn.BatchNorm1d(dim)
        self.fc = nn.Sequential(nn.Linear(channels, squeeze, bias=False), SEGate(squeeze))
        self.fc_phi = nn.Linear(squeeze, dim * dim, bias=False)
        self.fc_scale = nn.Linear(squeeze, channels, bias=False)
        self.hsig = Hsigmoid()
        self.pool = ChannelMoments(with_std=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, c, h, w = x.shape
        y = self.fc(self.pool(x)[0].flatten(1))
        phi = self.fc_phi(y).view(b, self.dim, self.dim)
        scale = self.hsig(self.fc_scale(y)).view(b, c, 1, 1)
        z = self.bn1(self.q(x)).flatten(2)
        r = self.bn2(torch.bmm(phi, z)) + z
        return scale, self.p(r.view(b, self.dim, h, w))


def _fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BN (running statistics) into the preceding bias-free conv kernel."""
    assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats, the default
    t = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return kernel * t.view(-1, 1, 1, 1), bn.bias - bn.running_mean * t


def _merge_1x1_kxk(k1: torch.Tensor, b1: torch.Tensor, k2: torch.Tensor,
                   b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1x1 conv (k1, b1) followed by a k x k conv (k2, b2) on a border padded with b1."""
    kernel = torch.einsum("omhw,mi->oihw", k2, k1[:, :, 0, 0])
    return kernel, torch.einsum("omhw,m->o", k2, b1) + b2


class ConvBN(nn.Module):
    """Bias-free conv followed by BatchNorm2d (keys `conv.*`, `bn.*`)."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        kernel, bias = _fuse_bn(self.conv.weight, self.bn)
        pad = (3 - kernel.shape[-1]) // 2
        return F.pad(kernel, [pad] * 4), bias


class BNAndPad(nn.Module):
    """BatchNorm2d, then a 1-pixel border filled per channel with the BN's output for a zero
    input (running statistics, detached affine), so that a following unpadded 3x3 op equals a
    zero-padded one on the BN input (key `bn.*`)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats, the default
        border = bn.bias.detach() - bn.running_mean * bn.weight.detach() / torch.sqrt(
            bn.running_var + bn.eps)
        mask = F.pad(x.new_zeros(1, 1, *x.shape[-2:]), [1] * 4, value=1.0)
        return F.pad(bn(x), [1] * 4) + border.view(1, -1, 1, 1) * mask


class AvgBranch(nn.Module):
    """1x1 conv -> BN-and-pad -> 3x3 average pool (no padding) -> BN."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = BNAndPad(channels)
        self.avg = nn.AvgPool2d(3, stride=1, padding=0)
        self.avgbn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.avgbn(self.avg(self.bn(self.conv(x))))

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.conv.weight.shape[0]
        eye = torch.eye(c, dtype=self.conv.weight.dtype, device=self.conv.weight.device)
        k2, b2 = _fuse_bn(eye.view(c, c, 1, 1).expand(c, c, 3, 3) / 9, self.avgbn)
        k1, b1 = _fuse_bn(self.conv.weight, self.bn.bn)
        return _merge_1x1_kxk(k1, b1, k2, b2)


class IdentityConv1x1(nn.Module):
    """1x1 conv, no bias, whose effective kernel is (stored weight + identity); weight starts at 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, channels, 1, 1))

    def kernel(self) -> torch.Tensor:
        c = self.weight.shape[0]
        eye = torch.eye(c, dtype=self.weight.dtype, device=self.weight.device)
        return self.weight + eye.view(c, c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel())


class OneByOneKxKBranch(nn.Module):
    """Identity-based 1x1 conv -> BN-and-pad -> 3x3 conv (no padding) -> BN."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.idconv1 = IdentityConv1x1(channels)
        self.bn1 = BNAndPad(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.bn1(self.idconv1(x))))

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        k1, b1 = _fuse_bn(self.idconv1.kernel(), self.bn1.bn)
        k2, b2 = _fuse_bn(self.conv2.weight, self.bn2)
        return _merge_1x1_kxk(k1, b1, k2, b2)


class DynamicUnit(nn.Module):
    """Static 3x3 path (one conv, or four DBB branches in the training form) scaled per channel by
    the dynamic branch, plus the dynamic term. Returns (s * static + res, res), pre-activation."""

    def __init__(self, channels: int, dim: int, form: Form) -> None:
        super().__init__()
        self.dy_branch = DynamicBranch(channels, dim)
        if form == "inference":
            self.dbb_reparam = nn.Conv2d(channels, channels, 3, padding=1)
        else:
            self.dbb_origin = ConvBN(channels, 3)
            self.dbb_1x1 = ConvBN(channels, 1)
            self.dbb_avg = AvgBranch(channels)
            self.dbb_1x1_kxk = OneByOneKxKBranch(channels)

    def _branches(self) -> tuple[ConvBN, ConvBN, AvgBranch, OneByOneKxKBranch]:
        return (self.dbb_origin, self.dbb_1x1, self.dbb_avg, self.dbb_1x1_kxk)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale, res = self.dy_branch(x)
        if hasattr(self, "dbb_reparam"):
            static = self.dbb_reparam(x)
        else:
            static = sum(branch(x) for branch in self._branches())
        return scale * static + res, res

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The training form's static path as one 3x3 kernel and bias (BN running statistics)."""
        kernels, biases = zip(*(branch.fused() for branch in self._branches()))
        return sum(kernels), sum(biases)


class RDU(nn.Module):
    """A dynamic unit (key `unit.*`) with an optional LeakyReLU(0.05) on its first output."""

    def __init__(self, channels: int, dim: int, form: Form, activate: bool = True) -> None:
        super().__init__()
        self.unit = DynamicUnit(channels, dim, form)
        self.activate = activate

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, res = self.unit(x)
        return (act(out) if self.activate else out), res


class DFDB(nn.Module):
    """Distillation block with dynamic fusion; returns (esa(o + R), R) with
    R = sigmoid(PAconv(o)) * conv1x1([x, res1, res2, res3]). No identity skip."""

    def __init__(self, channels: int, dim: int, form: Form) -> None:
        super().__init__()
        dc = channels // 2
        self.c1_d = nn.Conv2d(channels, dc, 1)
        self.c1_r = RDU(channels, dim, form)
        self.c2_d = nn.Conv2d(channels, dc, 1)
        self.c2_r = RDU(channels, dim, form)
        self.c3_d = nn.Conv2d(channels, dc, 1)
        self.c3_r = RDU(channels, dim, form)
        self.c4 = nn.Conv2d(channels, dc, 1)
        self.c5 = nn.Conv2d(4 * dc, channels, 1)
        self.PAconv = nn.Conv2d(channels, channels, 1)
        self.conv1x1 = nn.Conv2d(4 * channels, channels, 1)
        self.esa = RFDNESA(channels, channels // 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d1 = act(self.c1_d(x))
        r1, res1 = self.c1_r(x)
        d2 = act(self.c2_d(r1))
        r2, res2 = self.c2_r(r1)
        d3 = act(self.c3_d(r2))
        r3, res3 = self.c3_r(r2)
        o = self.c5(torch.cat([d1, d2, d3, self.c4(r3)], dim=1))
        agg = torch.sigmoid(self.PAconv(o)) * self.conv1x1(torch.cat([x, res1, res2, res3], dim=1))
        return self.esa(o + agg), agg


class DDistillSR(nn.Module):
    """DDistill-SR: 3x3 head, DFDBs, fused feature and dynamic-aggregate paths, a dynamic unit with
    a long skip, conv + PixelShuffle + 3x3 conv at HR (`upsamplerx{s}`), clamp to [0, 1]."""

    def __init__(self, scale: int, form: Form = "inference", num_feat: int = 56,
                 num_blocks: int = 4, dim: int = 16) -> None:
        super().__init__()
        self.scale = scale
        self.num_blocks = num_blocks
        self.fea_conv = nn.Conv2d(3, num_feat, 3, padding=1)
        for i in range(1, num_blocks + 1):
            self.add_module(f"B{i}", DFDB(num_feat, dim, form))
        self.PAconv = nn.Conv2d(num_feat, num_feat, 1)
        self.cres = nn.Sequential(nn.Conv2d(num_blocks * num_feat, num_feat, 1), nn.LeakyReLU(0.1))
        self.c = nn.Sequential(nn.Conv2d(num_blocks * num_feat, num_feat, 1), nn.LeakyReLU(0.1))
        self.LR_conv = RDU(num_feat, dim, form, activate=False)
        self.add_module(f"upsamplerx{scale}", nn.Sequential(
            nn.Conv2d(num_feat, 3 * scale**2, 3, padding=1),
            nn.PixelShuffle(scale),
            nn.Conv2d(3, 3, 3, padding=1),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_INPUT_SIZE:
            raise ValueError(f"DDistill-SR needs an input of at least {MIN_INPUT_SIZE}x"
                             f"{MIN_INPUT_SIZE} pixels, got {x.shape[-2]}x{x.shape[-1]}")
        f0 = self.fea_conv(x)
        feats, aggs = [], []
        f = f0
        for i in range(1, self.num_blocks + 1):
            f, agg = getattr(self, f"B{i}")(f)
            feats.append(f)
            aggs.append(agg)
        rc = self.cres(torch.cat(aggs, dim=1))
        yc = self.c(torch.cat(feats, dim=1))
        z = self.LR_conv(yc + torch.sigmoid(self.PAconv(yc)) * rc)[0] + f0
        return getattr(self, f"upsamplerx{self.scale}")(z).clamp(0, 1)


@torch.no_grad()
def fold_ddistill(model: nn.Module) -> nn.Module:
    """Fold a training-form DDistill-SR (BN running statistics) into a new inference-form model."""
    net = cast(DDistillSR, model)  # the family folds only its own networks
    dim = cast(DFDB, net.B1).c1_r.unit.dy_branch.dim
    folded = DDistillSR(net.scale, "inference", num_feat=net.fea_conv.out_channels,
                        num_blocks=net.num_blocks, dim=dim)
    folded.to(net.fea_conv.weight)
    keys = set(folded.state_dict())
    state = {k: v for k, v in model.state_dict().items() if k in keys}
    for name, module in model.named_modules():
        if isinstance(module, DynamicUnit):
            state[f"{name}.dbb_reparam.weight"], state[f"{name}.dbb_reparam.bias"] = module.fused()
    folded.load_state_dict(state, strict=True)
    return folded.eval()


def build(scale: int, form: Form) -> nn.Module:
    """The registry's builder for this family."""
    return DDistillSR(scale, form)
