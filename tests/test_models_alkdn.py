"""ALKDNet: shapes, parameter counts, state-dict layout, minimum size, ChannelMoments hook."""

from __future__ import annotations

import pytest
import torch

from srzoo.models import build_model, get_family
from srzoo.models.layers import ChannelMoments, count_parameters


@pytest.mark.parametrize(("scale", "params"), [(2, 372_716), (3, 381_371), (4, 393_488)])
def test_shapes_and_parameter_counts(scale: int, params: int) -> None:
    torch.manual_seed(0)
    model = build_model("alkdn", scale).eval()
    assert count_parameters(model) == params
    with torch.no_grad():
        out = model(torch.rand(2, 3, 13, 17))
    assert out.shape == (2, 3, 13 * scale, 17 * scale)


def test_family_registration() -> None:
    family = get_family("ALKDNet")
    assert family.name == "alkdn"
    assert family.min_input_size == 13
    assert family.locality == "global"


def test_state_dict_layout_x4() -> None:
    sd = build_model("alkdn", 4).state_dict()
    assert len(sd) == 560
    assert list(sd)[:3] == ["fea_conv.pw.weight", "fea_conv.dw.weight", "fea_conv.dw.bias"]
    assert sd["c_up.weight"].shape == (48, 64, 3, 3)
    assert sd["c_up.bias"].shape == (48,)
    assert sd["B1.esa.conv2.dw.weight"].shape == (16, 1, 3, 3)
    assert sd["c2.LoRA1.weight"].shape == (64, 1, 3, 1)
    assert sd["c2.LoRA2.weight"].shape == (64, 1, 1, 3)
    assert sd["B8.c4.LoRA1.weight"].shape == (32, 1, 9, 1)
    assert sd["B3.cca.conv_du.0.weight"].shape == (4, 64, 1, 1)


@pytest.mark.parametrize("size", [(12, 20), (20, 12)])
def test_too_small_input_raises(size: tuple[int, int]) -> None:
    model = build_model("alkdn", 2).eval()
    with pytest.raises(ValueError, match="13"):
        model(torch.rand(1, 3, *size))


def test_channel_moments_override_reproduces_output() -> None:
    torch.manual_seed(0)
    model = build_model("alkdn", 3).eval()
    x = torch.rand(1, 3, 15, 14)
    moments = [m for m in model.modules() if isinstance(m, ChannelMoments)]
    assert len(moments) == 8
    recorded = {}
    handles = [m.register_forward_hook(lambda mod, _i, out: recorded.__setitem__(mod, out))
               for m in moments]
    with torch.no_grad():
        reference = model(x)
    for h in handles:
        h.remove()
    for m in moments:
        m.override = recorded[m]
    with torch.no_grad():
        assert torch.equal(model(x), reference)
        # the override really is used: different statistics change the output
        moments[0].override = (recorded[moments[0]][0] + 1.0, recorded[moments[0]][1])
        assert not torch.equal(model(x), reference)
