"""The inference engine: tiled vs whole-image runs for every family, image-global statistics,
self-ensemble invariants, small-input padding, the float32 retry, and the out-of-memory fallback.

Random weights throughout (the behaviour does not depend on training); conftest runs torch on
one thread.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srzoo.engine.ensemble import DIHEDRAL
from srzoo.engine.ensemble import inverse as _inverse
from srzoo.engine.ensemble import transform as _transform
from srzoo.engine.upscaler import Upscaler
from srzoo.errors import SrzooError, UsageError
from srzoo.models import build_model, get_family, list_families
from srzoo.models.layers import ChannelMoments

FAMILY_FORMS = [(f.name, form) for f in list_families() for form in f.forms]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _random_model(name: str, form: str, scale: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return build_model(name, scale, form).eval()


class Nearest(nn.Module):
    """x2 nearest-neighbour upsampling: equivariant under flips and rotations, purely local."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")


class GlobalGain(nn.Module):
    """Output = nearest x2 of x * (mean + std) of x over the whole image: the statistics are of
    the network input itself, so a tiled run with the whole-image statistics pass is exact."""

    def __init__(self) -> None:
        super().__init__()
        self.moments = ChannelMoments(with_std=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.moments(x)
        return F.interpolate(x * (mean + std), scale_factor=2, mode="nearest")


@pytest.mark.parametrize("name,form", FAMILY_FORMS, ids=[f"{n}-{f}" for n, f in FAMILY_FORMS])
def test_tiled_matches_whole_image(name: str, form: str) -> None:
    """Local families (overlap tiling) and global ones (breadth-first): float32 up to rounding
    (vectorised kernels round the last columns of a map differently by its width), so uint8 values
    that lie on a rounding boundary may differ by one level."""
    family = get_family(name)
    model = _random_model(name, form)
    torch.manual_seed(1)
    if family.locality == "local":  # wider than two receptive fields, so the tiles really differ
        image, tile = torch.rand(1, 3, 24, 300), 100
    else:
        image, tile = torch.rand(1, 3, 60, 84), 24
    whole = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=0)
    scheme = "overlap" if family.locality == "local" else "auto"
    tiled = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=tile, tiling=scheme)
    totals: list[int] = []
    result = tiled(image, on_tile=lambda done, total: totals.append(total))
    reference = whole(image)
    passes = 2 if tiled.moments[0] else 1
    assert totals[-1] // passes >= 3, "the test must run several tiles"
    assert result.shape == reference.shape == (1, 3, 2 * image.shape[-2], 2 * image.shape[-1])
    if family.locality == "local":
        assert (result - reference).abs().max() <= 1e-6
        levels = (tiled.quantised(image).int() - whole.quantised(image).int()).abs()
        assert levels.max() <= 1 and (levels > 0).float().mean() <= 1e-4
    else:  # breadth-first: exact up to float rounding
        assert tiled.tiling_used == "breadth-first"
        assert (result - reference).abs().max() <= 1e-5


@pytest.mark.parametrize("name", [f.name for f in list_families()])
@pytest.mark.parametrize("tile", [5, 13, 32])
def test_breadth_first_tiles_equal_the_whole_image(name: str, tile: int) -> None:
    """At any tile size, including tiles smaller than the ESA's pooling window (15 LR px), and
    with BatchNorm statistics that are not the identity (DDistill-SR's dynamic units)."""
    model = _random_model(name, "inference")
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    torch.manual_seed(6)
    image = torch.rand(2, 3, 41, 35)
    whole = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=0)(image)
    tiled = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=tile, tiling="breadth-first")
    assert tiled.tiling_used == "breadth-first"
    assert len(tiled._plan(41, 35, tile) or []) >= 4
    assert (tiled(image) - whole).abs().max() <= 1e-5


def test_overlap_tiling_of_global_families_is_close() -> None:
    model = _random_model("aidn", "inference")
    torch.manual_seed(1)
    image = torch.rand(1, 3, 60, 84)
    whole = Upscaler(model, "aidn", 2, device="cpu", precision="fp32", tile=0)(image)
    tiled = Upscaler(model, "aidn", 2, device="cpu", precision="fp32", tile=24, tiling="overlap")
    assert tiled.tiling_used == "overlap"
    assert _psnr(tiled(image), whole) >= 50


def test_auto_precision_is_bf16_on_cpus_with_native_bf16(monkeypatch) -> None:
    import srzoo.engine.device as inference

    model = _random_model("aidn", "inference")
    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: True)
    fast = Upscaler(model, "aidn", 2, device="cpu")
    assert fast.precision == "bf16" and fast.memory_format == torch.channels_last
    exact = fast.exact()
    assert exact.precision == "fp32" and fast.precision == "bf16"
    assert Upscaler(model, "aidn", 2, device="cpu", precision="bf16").exact().precision == "bf16"
    image = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        reference = model(image).clamp(0, 1)
    torch.testing.assert_close(exact(image), reference, atol=1e-5, rtol=0)
    assert _psnr(fast(image), reference) > 30
    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: False)
    assert Upscaler(model, "aidn", 2, device="cpu").precision == "fp32"


def test_native_bf16_detection_runs() -> None:
    from srzoo.engine.device import cpu_has_native_bf16

    assert isinstance(cpu_has_native_bf16(), bool)


def test_whole_image_statistics_make_global_pooling_exact() -> None:
    """Tiles of a network that pools over its own input get the whole image's mean and std."""
    model = GlobalGain()
    torch.manual_seed(2)
    image = torch.rand(2, 3, 50, 70)
    reference = model(image)
    tiled = Upscaler(model, "alkdn", 2, device="cpu", precision="fp32", tile=16)
    torch.testing.assert_close(tiled(image), reference.clamp(0, 1), atol=1e-6, rtol=0)
    assert all(m.override is None for m in tiled.moments[0]), "overrides are reset after the run"
    tiled.moments = [[] for _ in tiled.moments]  # no statistics pass: every tile pools locally
    assert (tiled(image) - reference.clamp(0, 1)).abs().max() > 1e-3


def test_tiles_align_to_the_esa_grid_for_global_families() -> None:
    upscaler = Upscaler(Nearest(), "aidn", 2, device="cpu", precision="fp32", tile=20)
    tiles = upscaler._plan(64, 90, 20)
    assert tiles is not None and len(tiles) > 1
    assert all(t.rows.extent[0] % 6 == 0 and t.cols.extent[0] % 6 == 0 for t in tiles)


def test_ensemble_of_an_equivariant_network_is_the_plain_result() -> None:
    torch.manual_seed(3)
    image = torch.rand(1, 3, 17, 23)
    plain = Upscaler(Nearest(), "lkdn", 2, device="cpu", precision="fp32", tile=0)(image)
    ensemble = Upscaler(Nearest(), "lkdn", 2, device="cpu", precision="fp32", tile=0, ensemble=True)(image)
    torch.testing.assert_close(ensemble, plain, atol=1e-6, rtol=0)


def test_ensemble_is_the_mean_of_the_eight_inverted_runs_and_is_equivariant() -> None:
    model = _random_model("lkdn-s", "inference")
    torch.manual_seed(4)
    image = torch.rand(1, 3, 20, 28)
    upscaler = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=0, ensemble=True)
    result = upscaler(image)
    with torch.no_grad():
        manual = torch.stack([_inverse(model(_transform(image, f, k)), f, k) for f, k in DIHEDRAL]).mean(0)
    torch.testing.assert_close(result, manual.clamp(0, 1), atol=1e-6, rtol=0)
    for flip, turns in DIHEDRAL[1:]:
        moved = upscaler(_transform(image, flip, turns))
        torch.testing.assert_close(moved, _transform(result, flip, turns), atol=1e-5, rtol=0)


def test_ensemble_and_tiling_together() -> None:
    model = _random_model("lkdn-s", "inference")
    torch.manual_seed(5)
    image = torch.rand(1, 3, 16, 200)
    whole = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=0, ensemble=True)(image)
    for tiling in ("overlap", "breadth-first"):
        tiled = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=60, ensemble=True,
                         tiling=tiling)(image)
        torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["alkdn", "aidn", "ddistill"])
def test_inputs_below_the_minimum_size_are_padded_and_cropped_back(name: str) -> None:
    model = _random_model(name, "inference")
    image = torch.rand(1, 3, 5, 9)
    with pytest.raises(ValueError):
        model(image)
    out = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=0)(image)
    assert out.shape == (1, 3, 10, 18)
    size = get_family(name).min_input_size
    padded = F.pad(image, (0, size - 9, 0, size - 5), mode="replicate")
    with torch.no_grad():
        expected = model(padded)[..., :10, :18].clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


class Fragile(nn.Module):
    """Finite in float32, NaN in reduced precision (like an overflowing activation)."""

    def __init__(self, nan_in_float32: bool = False) -> None:
        super().__init__()
        self.nan_in_float32 = nan_in_float32
        self.calls: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        self.calls.append(dtype)
        y = F.interpolate(x, scale_factor=2, mode="nearest")
        return y * math.nan if dtype != torch.float32 or self.nan_in_float32 else y


def test_non_finite_reduced_precision_output_is_rerun_in_float32() -> None:
    upscaler = Upscaler(Fragile(), "lkdn", 2, device="cpu", precision="bf16", tile=0)
    image = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(upscaler(image), F.interpolate(image, scale_factor=2))
    net = upscaler.nets[0][0]  # bf16 is autocast: the float32 retry runs the same module
    assert upscaler.nets[1][0] is net and net.calls == [torch.bfloat16, torch.float32]


def test_non_finite_float32_output_is_a_clear_error() -> None:
    upscaler = Upscaler(Fragile(nan_in_float32=True), "lkdn", 2, device="cpu", precision="fp32", tile=0)
    with pytest.raises(SrzooError, match="non-finite output"):
        upscaler(torch.rand(1, 3, 8, 8))


class Tight(nn.Module):
    """Raises PyTorch's CPU allocation error for inputs above `limit` pixels."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        if x.shape[-2] * x.shape[-1] > self.limit:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
        return F.interpolate(x, scale_factor=2, mode="nearest")


def test_auto_tile_halves_on_out_of_memory_until_it_fits() -> None:
    upscaler = Upscaler(Tight(limit=2500), "lkdn", 2, device="cpu", precision="fp32", tile="auto")
    image = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(upscaler(image), F.interpolate(image, scale_factor=2))
    net = upscaler.nets[0][0]
    assert net.sizes[0] == (64, 64) and max(h * w for h, w in net.sizes[1:]) <= 2500


def test_out_of_memory_with_a_fixed_tile_or_below_the_smallest_tile_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="can't allocate"):
        Upscaler(Tight(limit=100), "lkdn", 2, device="cpu", precision="fp32", tile=0)(torch.rand(1, 3, 64, 64))
    with pytest.raises(SrzooError, match="out of memory on cpu even with"):
        Upscaler(Tight(limit=100), "lkdn", 2, device="cpu", precision="fp32", tile="auto")(torch.rand(1, 3, 64, 64))


def test_training_form_is_folded_for_inference() -> None:
    model = _random_model("lkdn-s", "training")
    upscaler = Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=0)
    inference_keys = build_model("lkdn-s", 2, "inference").state_dict().keys()
    assert upscaler.nets[0][0].state_dict().keys() == inference_keys
    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(upscaler(image), model(image).clamp(0, 1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("options,message", [
    ({"tile": -1}, "tile must be"),
    ({"tile_overlap": -2}, "overlap must be"),
    ({"precision": "fp8"}, "unknown precision"),
    ({"tiling": "diagonal"}, "unknown tiling"),
    ({"device": "tpu"}, "unknown device"),
])
def test_bad_engine_options_are_usage_errors(options: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Upscaler(Nearest(), "lkdn", 2, **{"device": "cpu", **options})


@pytest.mark.parametrize("name", [f.name for f in list_families()])
def test_channels_last_gives_the_same_result(name: str) -> None:
    model = _random_model(name, "inference")
    image = torch.rand(2, 3, 20, 24)
    plain = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=0, channels_last=False)
    nhwc = Upscaler(model, name, 2, device="cpu", precision="fp32", tile=0, channels_last=True)
    assert nhwc.memory_format == torch.channels_last and plain.memory_format == torch.contiguous_format
    torch.testing.assert_close(nhwc(image), plain(image), atol=1e-5, rtol=0)


def test_default_layout_follows_the_profile_per_device() -> None:
    chosen = {f.name: Upscaler(_random_model(f.name, "inference"), f.name, 2, device="cpu",
                                precision="fp32").memory_format
              for f in list_families()}
    assert {name for name, fmt in chosen.items() if fmt == torch.channels_last} == {"aidn", "ddistill"}


def test_evaluation_runs_an_auto_precision_engine_in_float32(monkeypatch) -> None:
    import numpy as np

    import srzoo.engine.device as inference
    from srzoo.evaluation.evaluate import on_uint8

    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: True)
    model = _random_model("lkdn-s", "inference")
    engine = Upscaler(model, "lkdn-s", 2, device="cpu", tile=8)
    assert engine.precision == "bf16"
    lr = (np.random.default_rng(0).random((20, 18, 3)) * 255).astype(np.uint8)
    exact = on_uint8(Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=8))([lr])[0]
    assert np.array_equal(on_uint8(engine)([lr])[0], exact)


def test_tiles_whose_overlap_costs_more_than_them_get_a_note() -> None:
    notes: list[str] = []
    model = build_model("lkdn-s", 2)
    Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=32, tiling="overlap", on_note=notes.append)
    assert len(notes) == 1 and "32-px tiles with 71 px of overlap each compute" in notes[0]
    notes.clear()
    Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=32, on_note=notes.append)  # breadth-first
    Upscaler(model, "lkdn-s", 2, device="cpu", precision="fp32", tile=1000, tiling="overlap", on_note=notes.append)
    assert notes == []


def test_auto_tiles_come_from_the_memory_budget(monkeypatch) -> None:
    """`--tile auto` on the CPU plans for `$SRZOO_MEMORY_MB`, not for half the RAM; the tiles are
    breadth-first, so the output is the whole image's."""
    model = _random_model("lkdn", "inference")
    image = torch.rand(1, 3, 60, 52)
    whole = Upscaler(model, "lkdn", 2, device="cpu", precision="fp32", tile=0)(image)
    monkeypatch.setenv("SRZOO_MEMORY_MB", "4096")
    assert Upscaler(model, "lkdn", 2, device="cpu", precision="fp32").tile_for(image) == 0
    monkeypatch.setenv("SRZOO_MEMORY_MB", "1")
    engine = Upscaler(model, "lkdn", 2, device="cpu", precision="fp32")
    assert engine.tile_for(image) > 0
    torch.testing.assert_close(engine(image), whole, atol=2e-5, rtol=0)


def test_breadth_first_auto_tiles_leave_room_for_one_steps_context_only(monkeypatch) -> None:
    """A breadth-first step's crop reaches its own radius beyond the tile, not the whole network's
    overlap, so its auto tile is larger than an overlap tile by twice the difference."""
    from srzoo.engine.breadth_first import Local

    monkeypatch.setenv("SRZOO_MEMORY_MB", "2000")
    model = _random_model("lkdn", "inference")
    image = torch.zeros(1, 3, 900, 900)
    breadth_first = Upscaler(model, "lkdn", 2, device="cpu", precision="fp32")
    overlap = Upscaler(model, "lkdn", 2, device="cpu", precision="fp32", tiling="overlap")
    steps = breadth_first.programs[0]
    assert steps is not None
    radius = max(st.radius for st in steps if isinstance(st, Local))
    assert 0 < radius < overlap.overlap
    assert overlap.tile_for(image) > 0
    assert breadth_first.tile_for(image) - overlap.tile_for(image) == 2 * (overlap.overlap - radius)
