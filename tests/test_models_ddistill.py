"""DDistill-SR: both forms, shapes, parameter counts, the fold's exactness, size guard."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from srzoo.models import build_model, get_family
from srzoo.models.ddistill.network import DDistillSR, fold_ddistill
from srzoo.models.layers import ChannelMoments, count_parameters


def _randomise(model: nn.Module) -> None:
    """Random BN statistics and affine parameters, and non-zero identity-conv weights."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=g))
                module.bias.copy_(0.2 * torch.randn(n, generator=g))
                module.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                module.running_var.copy_(0.5 + torch.rand(n, generator=g))
        for name, p in model.named_parameters():
            if name.endswith("idconv1.weight"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))


def test_registered_with_aliases() -> None:
    family = get_family("ddistill-sr")
    assert family.name == "ddistill" and get_family("ddistillsr") is family
    assert family.forms == ("training", "inference") and family.folder == fold_ddistill.__name__
    assert family.min_input_size == 15 and family.locality == "global"


@pytest.mark.parametrize("form", ["inference", "training"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape_on_odd_sizes(scale: int, form: str) -> None:
    model = build_model("ddistill", scale, form).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 15, 17)).shape == (1, 3, 15 * scale, 17 * scale)
        out = model(torch.rand(2, 3, 17, 23))
    assert out.shape == (2, 3, 17 * scale, 23 * scale)
    assert out.min() >= 0 and out.max() <= 1


def test_parameter_and_entry_counts() -> None:
    inference = DDistillSR(4)
    state = inference.state_dict()
    assert count_parameters(inference) == 675_780
    assert sum(v.numel() for v in state.values()) == 676_638
    assert len(state) == 358
    assert state["upsamplerx4.2.weight"].shape == (3, 3, 3, 3)
    training = DDistillSR(4, "training")
    assert count_parameters(training) == 1_173_004
    assert len(training.state_dict()) == 787


def test_upsampler_name_per_scale() -> None:
    for scale in (2, 3, 4):
        state = DDistillSR(scale).state_dict()
        assert state[f"upsamplerx{scale}.0.weight"].shape == (3 * scale**2, 56, 3, 3)


def test_pooling_goes_through_channel_moments() -> None:
    units = [m for m in DDistillSR(4).modules() if isinstance(m, ChannelMoments)]
    assert len(units) == 13


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fold_matches_training_form(scale: int) -> None:
    torch.manual_seed(scale)
    model = DDistillSR(scale, "training")
    _randomise(model)
    model.eval()
    folded = fold_ddistill(model)
    assert list(folded.state_dict()) == list(DDistillSR(scale).state_dict())
    x = 0.4 + 0.2 * torch.rand(1, 3, 20, 24)
    with torch.no_grad():  # compared before the clamp, which could hide differences
        diff = (_pre_clamp(model, x) - _pre_clamp(folded, x)).abs().max().item()
    assert diff <= 1e-5


def _pre_clamp(model: DDistillSR, x: torch.Tensor) -> torch.Tensor:
    """The output before the final clamp (the upsampler's raw result)."""
    captured: list[torch.Tensor] = []
    up = getattr(model, f"upsamplerx{model.scale}")
    handle = up.register_forward_hook(lambda _m, _i, o: captured.append(o))
    model(x)
    handle.remove()
    return captured[0]


def test_small_input_raises() -> None:
    model = DDistillSR(4).eval()
    with pytest.raises(ValueError, match="15x15"):
        model(torch.rand(1, 3, 15, 14))
