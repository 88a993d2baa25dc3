"""MATLAB bicubic imresize: hand-checked values, an independent loop reference, genuine Set5 LR."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from srzoo.evaluation.imresize import imresize, make_lr


def _keys(x: float) -> float:
    """Keys' cubic kernel, a = -0.5."""
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def _fold(j: int, n: int, boundary: str) -> int:
    if boundary == "replicate":
        return min(max(j, 0), n - 1)
    while not 0 <= j < n:  # symmetric: mirror with the edge pixel repeated
        j = -j - 1 if j < 0 else 2 * n - 1 - j
    return j


def _ref_axis(img: np.ndarray, axis: int, n_out: int, scale: float, boundary: str,
              to_uint8: bool) -> np.ndarray:
    """Straight from the definition: 0-based centres, kernel stretched by 1/scale when shrinking."""
    src = np.moveaxis(img.astype(np.float64), axis, 0)
    n_in = src.shape[0]
    stretch = min(scale, 1.0)
    out = np.zeros((n_out,) + src.shape[1:])
    for i in range(n_out):
        centre = (i + 0.5) / scale - 0.5
        taps = range(math.floor(centre - 2 / stretch), math.ceil(centre + 2 / stretch) + 1)
        raw = [_keys((centre - j) * stretch) for j in taps]
        for j, r in zip(taps, raw):
            out[i] += r / sum(raw) * src[_fold(j, n_in, boundary)]
    if to_uint8:
        out = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return np.moveaxis(out, 0, axis)


def _ref_resize(img: np.ndarray, out_shape: tuple[int, int], scales: tuple[float, float],
                boundary: str = "replicate") -> np.ndarray:
    """Reference resize; the axis with the smaller scale goes first (height on ties)."""
    to_uint8 = img.dtype == np.uint8
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)
    for axis in order:
        img = _ref_axis(img, axis, out_shape[axis], scales[axis], boundary, to_uint8)
    return img


def _rand(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("scale", [1 / 2, 1 / 3, 1 / 4, 2.0, 3.0])
def test_constant_image_stays_constant(scale: float) -> None:
    img = np.full((13, 10, 3), 77, np.uint8)
    out = imresize(img, scale)
    assert out.dtype == np.uint8
    assert out.shape == (math.ceil(13 * scale), math.ceil(10 * scale), 3)
    assert np.all(out == 77)
    out_f = imresize(img / 255.0, scale)
    assert out_f.dtype == np.float64
    np.testing.assert_allclose(out_f, 77 / 255, rtol=0, atol=1e-12)


def test_impulse_gives_keys_weights_widened_by_two() -> None:
    # Impulse at column 16; output column j has centre 2j + 0.5 and sees weight cubic(d / 2) / 2 at
    # distance d = 2j + 0.5 - 16 (each half of the widened kernel sums to 1, so the total is 2).
    img = np.zeros((1, 32))
    img[0, 16] = 1.0
    out = imresize(img, 0.5)
    assert out.shape == (1, 16)
    expected = np.zeros(16)
    expected[6:10] = [-0.01171875, 0.11328125, 0.43359375, -0.03515625]  # d = -3.5, -1.5, 0.5, 2.5
    np.testing.assert_array_equal(out[0], expected)


def test_linear_ramp_stays_linear_in_the_interior() -> None:
    r, c = np.mgrid[0:24, 0:24].astype(np.float64)
    out = imresize(3 * r + 5 * c + 1, 0.5)
    i, j = np.mgrid[0:12, 0:12]
    expected = 3 * (2 * i + 0.5) + 5 * (2 * j + 0.5) + 1  # ramp sampled at the output centres
    inner = (slice(2, 10), slice(2, 10))  # taps reach 3.5 px either side: no clamping here
    np.testing.assert_allclose(out[inner], expected[inner], rtol=0, atol=1e-12)
    assert not np.allclose(out[0], expected[0])  # the clamped border does differ


def test_block_pattern_x2_uint8_and_float() -> None:
    blocks = np.kron(np.array([[0, 255, 0, 255], [255, 0, 255, 0],
                               [30, 200, 90, 10], [120, 60, 250, 5]]), np.ones((4, 4)))
    img = blocks.astype(np.uint8)
    out = imresize(img, 0.5)
    assert out.shape == (8, 8)
    np.testing.assert_array_equal(out, _ref_resize(img, (8, 8), (0.5, 0.5)))
    np.testing.assert_allclose(imresize(blocks, 0.5), _ref_resize(blocks, (8, 8), (0.5, 0.5)),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize(("scale", "shape"), [(1 / 3, (3, 2)), (1 / 2, (4, 3))])
def test_odd_sizes(scale: float, shape: tuple[int, int]) -> None:
    img = _rand((7, 5, 3), seed=1)
    out = imresize(img, scale)
    assert out.shape == shape + (3,)
    np.testing.assert_array_equal(out, _ref_resize(img, shape, (scale, scale)))
    f = img.astype(np.float64)
    np.testing.assert_allclose(imresize(f, scale), _ref_resize(f, shape, (scale, scale)),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(9, 1), (1, 9)])
def test_one_pixel_wide(shape: tuple[int, int]) -> None:
    img = _rand(shape, seed=2)
    out = imresize(img, 0.5)
    out_shape = (math.ceil(shape[0] / 2), math.ceil(shape[1] / 2))
    assert out.shape == out_shape
    np.testing.assert_array_equal(out, _ref_resize(img, out_shape, (0.5, 0.5)))


def test_upscale_x2_matches_reference() -> None:
    img = _rand((6, 5, 3), seed=3)
    out = imresize(img, 2)
    assert out.shape == (12, 10, 3)
    np.testing.assert_array_equal(out, _ref_resize(img, (12, 10), (2.0, 2.0)))
    f = img.astype(np.float64)
    np.testing.assert_allclose(imresize(f, 2), _ref_resize(f, (12, 10), (2.0, 2.0)),
                               rtol=0, atol=1e-9)


def test_output_shape_resizes_smaller_scale_first() -> None:
    img = _rand((12, 12), seed=4)
    out = imresize(img, output_shape=(6, 4))  # width (scale 1/3) goes first
    np.testing.assert_array_equal(out, _ref_resize(img, (6, 4), (0.5, 4 / 12)))


def test_symmetric_differs_from_replicate_only_near_edges() -> None:
    img = _rand((20, 20, 3), seed=5)
    rep = imresize(img, 0.5)
    sym = imresize(img, 0.5, boundary="symmetric")
    np.testing.assert_array_equal(sym, _ref_resize(img, (10, 10), (0.5, 0.5), "symmetric"))
    np.testing.assert_array_equal(rep[2:8, 2:8], sym[2:8, 2:8])  # taps stay inside the image
    assert not np.array_equal(rep, sym)


def test_make_lr_modcrops() -> None:
    hr = _rand((14, 11, 3), seed=6)
    np.testing.assert_array_equal(make_lr(hr, 3, "matlab"), imresize(hr[:12, :9], 1 / 3))
    assert make_lr(hr, 4).shape == (3, 2, 3)


def test_basicsr_recipe_resizes_floats_with_mirrored_edges_and_rounds_once() -> None:
    rng = np.random.default_rng(7)
    hr = rng.integers(0, 256, size=(26, 31, 3), dtype=np.uint8)
    lr = make_lr(hr, 2, "basicsr")
    exact = imresize(hr[:26, :30] / 255.0, 0.5, boundary="symmetric") * 255
    assert lr.dtype == np.uint8 and lr.shape == (13, 15, 3)
    np.testing.assert_array_equal(lr, np.clip(np.floor(exact + 0.5), 0, 255))
    matlab = make_lr(hr, 2, "matlab").astype(int)
    interior = (slice(2, -2), slice(2, -2))  # away from the edges only the rounding differs
    assert np.abs(lr.astype(int) - matlab)[interior].max() == 1
    np.testing.assert_array_equal(make_lr(hr, 2), lr)  # the default recipe


def test_bad_arguments() -> None:
    img = np.zeros((4, 4))
    with pytest.raises(ValueError):
        imresize(img)
    with pytest.raises(ValueError):
        imresize(img, 0.5, output_shape=(2, 2))
    with pytest.raises(ValueError):
        imresize(img, 0.5, boundary="reflect")
    with pytest.raises(ValueError):
        make_lr(img, 2)
    with pytest.raises(ValueError):
        make_lr(np.zeros((4, 4), np.uint8), 2, "pil")


def _shared() -> Path:
    env = os.environ.get("SRZOO_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


# Every genuine MATLAB LR file in the shared datasets (457 files) is reproduced bit for bit.
GENUINE = [(d, s) for d in ("Set5", "Set14", "B100") for s in (2, 3, 4)] + [("Urban100", 4)]


@pytest.mark.parametrize("dataset,scale", GENUINE, ids=[f"{d}-x{s}" for d, s in GENUINE])
def test_genuine_matlab_lr_files(dataset: str, scale: int) -> None:
    pil = pytest.importorskip("PIL.Image")
    root = _shared() / "datasets" / dataset
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    if not lr_dir.is_dir():
        pytest.skip(f"genuine MATLAB LR folder {lr_dir} absent (set SRZOO_SHARED)")
    files = sorted(lr_dir.glob(f"*x{scale}.webp"))
    assert files
    for f in files:
        name = f.name[: -len(f"x{scale}.webp")]
        hr = np.asarray(pil.open(root / "HR" / f"{name}.webp").convert("RGB"))
        lr = np.asarray(pil.open(f).convert("RGB"))
        np.testing.assert_array_equal(make_lr(hr, scale, "matlab"), lr, err_msg=f.name)
