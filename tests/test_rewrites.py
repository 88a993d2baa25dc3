"""The engine's exact rewrites compute what the layers they replace compute."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from srzoo.engine.rewrites import (
    PhaseSplitConv2d,
    merge_phases,
    phase_splittable,
    rewrite_for_inference,
    split_phases,
)
from srzoo.engine.upscaler import Upscaler
from srzoo.models.layers import receptive_radius
from srzoo.models.registry import build_model


@pytest.mark.parametrize("channels_last", [False, True])
def test_split_and_merge_phases_are_inverse(channels_last: bool) -> None:
    x = torch.rand(2, 5, 12, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    phases = split_phases(x, 3)
    assert phases.shape == (18, 5, 4, 3)
    assert torch.equal(phases[1 * 9 + 2 * 3 + 1], x[1, :, 2::3, 1::3])
    assert torch.equal(merge_phases(phases, 3), x)


@pytest.mark.parametrize(("kernel", "dilation", "groups", "size"), [
    (5, 3, 8, 16), (5, 3, 8, (13, 17)), (3, 2, 1, (10, 7)), (7, 4, 2, (9, 30)), (3, 2, 8, (1, 5)),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_phase_split_conv_equals_the_dilated_conv(kernel: int, dilation: int, groups: int,
                                                  size: int | tuple[int, int], channels_last: bool) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=groups)
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.randn(2, 8, h, w)
    if channels_last:
        x, conv = x.contiguous(memory_format=torch.channels_last), conv.to(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected, got = conv(x), PhaseSplitConv2d(conv)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("conv", [
    nn.Conv2d(4, 4, 3, padding=1),  # not dilated
    nn.Conv2d(4, 4, 3, padding=2, dilation=2, stride=2),
    nn.Conv2d(4, 4, 3, padding=1, dilation=2),  # not "same"
    nn.Conv2d(4, 4, 3, padding=2, dilation=2, padding_mode="reflect"),
    nn.Conv2d(4, 4, 4, padding=4, dilation=2),  # even kernel
    nn.Conv2d(4, 4, 3, padding=(2, 3), dilation=(2, 3)),
])
def test_only_same_padded_stride_one_dilated_convs_are_split(conv: nn.Conv2d) -> None:
    assert not phase_splittable(conv)
    with pytest.raises(ValueError, match="not a dilated"):
        PhaseSplitConv2d(conv)


def test_rewrite_replaces_lkdn_dilated_convs_and_keeps_the_output() -> None:
    torch.manual_seed(0)
    net = build_model("lkdn-s", 2).eval()
    x = torch.rand(1, 3, 23, 31)
    with torch.inference_mode():
        expected = net(x)
    rewritten = rewrite_for_inference(copy.deepcopy(net))
    split = [m for m in rewritten.modules() if isinstance(m, PhaseSplitConv2d)]
    assert len(split) == sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.dilation != (1, 1)) > 0
    with torch.inference_mode():
        torch.testing.assert_close(rewritten(x), expected, rtol=0, atol=1e-5)


def test_the_cpu_engine_runs_the_rewritten_network_and_leaves_the_model_alone() -> None:
    torch.manual_seed(0)
    net = build_model("lkdn", 2).eval()
    upscaler = Upscaler(net, "lkdn", 2, device="cpu", precision="fp32", backend="torch")
    assert upscaler.nets[0][0].state_dict().keys() == net.state_dict().keys()
    assert any(isinstance(m, PhaseSplitConv2d) for m in upscaler.nets[0][0].modules())
    assert not any(isinstance(m, PhaseSplitConv2d) for m in net.modules())
    x = torch.rand(1, 3, 20, 26)
    with torch.inference_mode():
        expected = net(x).clamp(0, 1)
    torch.testing.assert_close(upscaler(x), expected, rtol=0, atol=1e-5)


def test_breadth_first_tiles_see_the_split_convs_receptive_field() -> None:
    """The executor sizes each step's context from its convolutions' receptive radius; a
    rewritten conv must still count its dilation there."""
    torch.manual_seed(0)
    net = build_model("lkdn-s", 2).eval()
    x = torch.rand(1, 3, 20, 26)
    tiled = Upscaler(net, "lkdn-s", 2, device="cpu", precision="fp32", tile=8, backend="torch")
    assert tiled.tiling_used == "breadth-first"
    assert receptive_radius(tiled.nets[0][0]) == receptive_radius(net)
    with torch.inference_mode():
        expected = net(x).clamp(0, 1)
    torch.testing.assert_close(tiled(x), expected, rtol=0, atol=1e-5)
