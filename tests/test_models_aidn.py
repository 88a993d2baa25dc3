"""AIDN (released NTIRE 2022 ARFDN build): construction, shapes, parameter counts, size guard."""

from __future__ import annotations

import pytest
import torch

from srzoo.models import build_model, get_family
from srzoo.models.aidn.network import AIDN
from srzoo.models.layers import count_parameters


def test_registered_with_aliases() -> None:
    family = get_family("arfdn")
    assert family.name == "aidn" and get_family("aidn-ntire22") is family
    assert family.forms == ("inference",) and family.min_input_size == 15
    assert family.locality == "global"


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape_on_odd_sizes(scale: int) -> None:
    model = build_model("aidn", scale).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 15, 17)).shape == (1, 3, 15 * scale, 17 * scale)
        assert model(torch.rand(2, 3, 17, 23)).shape == (2, 3, 17 * scale, 23 * scale)


def test_released_build_parameters_and_keys() -> None:
    model = AIDN(4)
    assert count_parameters(model) == 241_548
    state = model.state_dict()
    assert len(state) == 200
    assert state["upsampler.0.weight"].shape == (48, 50, 3, 3)
    assert state["B4.mpa.conv4.weight"].shape == (50, 12, 1, 1)
    assert state["c.0.weight"].shape == (50, 200, 1, 1)


@pytest.mark.parametrize(("scale", "params"), [(4, 339_498), (2, 323_262), (3, 330_027)])
def test_paper_six_block_parameters(scale: int, params: int) -> None:
    model = AIDN(scale, num_blocks=6)
    assert count_parameters(model) == params
    assert model.state_dict()["c.0.weight"].shape == (50, 300, 1, 1)


def test_upsampler_width_per_scale() -> None:
    for scale in (2, 3, 4):
        assert AIDN(scale).upsampler[0].out_channels == 3 * scale**2


def test_small_input_raises() -> None:
    model = AIDN(4).eval()
    with pytest.raises(ValueError, match="15x15"):
        model(torch.rand(1, 3, 14, 20))
