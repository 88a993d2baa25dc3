"""LKDN / LKDN-S: shapes, parameter counts, state-dict layout and exact folding."""

from __future__ import annotations

import pytest
import torch

from srzoo.models import build_model, get_family
from srzoo.models.layers import count_parameters
from srzoo.models.lkdn.network import fold_lkdn

FAMILIES = (get_family("lkdn"), get_family("lkdn-s"))

CASES = [(f.name, s, form) for f in FAMILIES for s in f.scales for form in f.forms]


@pytest.mark.parametrize(("name", "scale", "form"), CASES)
def test_builds_and_output_shape(name: str, scale: int, form: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, scale, form).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 13, 17)).shape == (1, 3, 13 * scale, 17 * scale)
        assert model(torch.rand(2, 3, 5, 3)).shape == (2, 3, 5 * scale, 3 * scale)


@pytest.mark.parametrize(("name", "scale", "form", "params"), [
    ("lkdn", 2, "inference", 303_812),
    ("lkdn", 3, "inference", 311_387),
    ("lkdn", 4, "inference", 321_992),
    ("lkdn-s", 4, "inference", 129_177),
    ("lkdn-s", 4, "training", 172_449),
])
def test_parameter_counts(name: str, scale: int, form: str, params: int) -> None:
    assert count_parameters(build_model(name, scale, form)) == params


def test_family_registration() -> None:
    assert get_family("LKDNet").name == "lkdn"
    assert get_family("lkdn_s").name == "lkdn-s"
    assert get_family("LKDNets").name == "lkdn-s"
    assert get_family("lkdn").forms == ("inference",)
    assert get_family("lkdn-s").folder == fold_lkdn.__name__
    assert all(f.locality == "local" and f.min_input_size == 1 for f in FAMILIES)


def test_state_dict_layout_x4() -> None:
    sd = build_model("lkdn", 4).state_dict()
    assert len(sd) == 250
    assert list(sd)[:3] == ["fea_conv.pw.weight", "fea_conv.dw.weight", "fea_conv.dw.bias"]
    assert list(sd)[-2:] == ["upsampler.0.weight", "upsampler.0.bias"]
    assert sd["upsampler.0.weight"].shape == (48, 56, 3, 3)
    assert sd["B8.c4.pw.weight"].shape == (28, 56, 1, 1)
    assert sd["B1.c5.weight"].shape == (56, 112, 1, 1)
    assert sd["B1.atten.depthwise_dilated.weight"].shape == (56, 1, 5, 5)
    assert sd["B1.pixel_norm.weight"].shape == (56,)
    assert sd["c1.weight"].shape == (56, 448, 1, 1)

    sd = build_model("lkdn-s", 4, "inference").state_dict()
    assert len(sd) == 160
    assert "B6.c1_d.weight" not in sd
    assert sd["upsampler.0.weight"].shape == (48, 42, 3, 3)
    assert sd["c1.weight"].shape == (42, 210, 1, 1)

    sd = build_model("lkdn-s", 4, "training").state_dict()
    assert len(sd) == 196
    assert list(sd)[-8:] == [f"upsampler.{c}.{p}" for c in ("conv1", "conv3", "conv1x1", "conv3x3")
                             for p in ("weight", "bias")]
    assert sd["upsampler.conv3x3.weight"].shape == (48, 84, 3, 3)
    assert sd["upsampler.conv1x1.weight"].shape == (84, 42, 1, 1)
    assert sd["B5.c3_r.rep1x1.weight"].shape == (42, 1, 1, 1)
    assert sd["B5.c3_r.rep1x1.bias"].shape == (42,)
    assert sd["B5.c4.pw.weight"].shape == (21, 42, 1, 1)


def test_upsampler_depends_on_scale_only() -> None:
    assert build_model("lkdn", 2).state_dict()["upsampler.0.bias"].shape == (12,)
    sd = build_model("lkdn-s", 3, "training").state_dict()
    assert sd["upsampler.conv3x3.weight"].shape == (27, 84, 3, 3)
    assert sd["upsampler.conv1.weight"].shape == (27, 42, 1, 1)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fold_matches_training_form(scale: int) -> None:
    torch.manual_seed(scale)
    model = build_model("lkdn-s", scale, "training").eval()
    with torch.no_grad():
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.1)
        folded = fold_lkdn(model)
        x = torch.rand(1, 3, 11, 15)
        ref = model(x)
        out = folded(x)
    assert not folded.training
    assert list(folded.state_dict()) == list(build_model("lkdn-s", scale, "inference").state_dict())
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5
