"""The contract every network family keeps, checked over all of them (adding a family adds it here).

Each family builds at every scale and form, has the parameter count its zoo entries record, folds
its training form into an equivalent inference form, has a breadth-first program that tiles
exactly, runs at its minimum input size (and the engine pads smaller images up to it), and its
state dicts are recognised (tests/test_detect.py)."""

from __future__ import annotations

import pytest
import torch

from srzoo.engine.upscaler import Upscaler
from srzoo.models import ModelFamily, build_model, list_families
from srzoo.models.layers import count_parameters
from srzoo.zoo.manifest import load_manifest

FAMILIES = list_families()


def _seeded(family: ModelFamily, scale: int, form: str) -> torch.nn.Module:
    """A network with seeded random weights and non-trivial normalisation statistics, eval mode."""
    torch.manual_seed(0)
    net = build_model(family.name, scale, form)  # type: ignore[arg-type]
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _image(height: int, width: int) -> torch.Tensor:
    torch.manual_seed(1)
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    smooth = torch.stack([(0.2 + 0.6 * x * y), (0.3 + 0.4 * x).expand(height, width),
                          (0.5 - 0.3 * y).expand(height, width)])
    return (smooth + 0.05 * torch.rand(3, height, width)).clamp(0, 1)[None]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_parameter_counts_match_the_zoo(family: ModelFamily) -> None:
    entries = [e for e in load_manifest() if e.name == family.name]
    assert entries, f"{family.name} has no zoo.toml entry"
    for entry in entries:
        built = build_model(family.name, entry.scale, "inference")
        assert count_parameters(built) == entry.params, entry.label


@pytest.mark.parametrize("family", [f for f in FAMILIES if "training" in f.forms], ids=lambda f: f.name)
def test_the_training_form_folds_into_an_equivalent_inference_form(family: ModelFamily) -> None:
    net = _seeded(family, 2, "training")
    folded = family.fold(net)
    assert folded.state_dict().keys() == build_model(family.name, 2, "inference").state_dict().keys()
    image = _image(24, 20)
    with torch.no_grad():
        torch.testing.assert_close(folded(image), net(image), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_the_breadth_first_program_tiles_exactly(family: ModelFamily) -> None:
    net = _seeded(family, 3, "inference")
    assert family.program(net) is not None
    image = _image(37, 29)
    whole = Upscaler(net, family, 3, device="cpu", precision="fp32", tile=0)(image)
    tiled = Upscaler(net, family, 3, device="cpu", precision="fp32", tile=8, tiling="breadth-first")
    assert tiled.tiling_used == "breadth-first"
    torch.testing.assert_close(tiled(image), whole, atol=2e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_minimum_input_size(family: ModelFamily) -> None:
    net = _seeded(family, 2, "inference")
    size = family.min_input_size
    with torch.no_grad():
        assert net(_image(size, size)).shape[-2:] == (2 * size, 2 * size)
    small = max(1, size - 4)
    out = Upscaler(net, family, 2, device="cpu", precision="fp32", tile=0)(_image(small, small + 1))
    assert out.shape[-2:] == (2 * small, 2 * (small + 1))
