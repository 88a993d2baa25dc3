"""PSNR/SSIM protocol: known Y values, direct formulas, a naive SSIM and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srzoo.evaluation.metrics import crop_border, evaluate_pair, psnr, rgb_to_y, ssim


def _noisy_pair(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 15, shape), 0, 255).round().astype(np.uint8)
    return a, b


@pytest.mark.parametrize(("rgb", "y"), [
    ((0, 0, 0), 16.0), ((255, 255, 255), 235.0), ((255, 0, 0), 81.481),
    ((0, 255, 0), 144.553), ((0, 0, 255), 40.966),
    ((51, 102, 204), 16 + 0.2 * 65.481 + 0.4 * 128.553 + 0.8 * 24.966),
])
def test_rgb_to_y_known_values(rgb: tuple[int, int, int], y: float) -> None:
    img = np.array([[rgb]], np.uint8)
    out = rgb_to_y(img)
    assert out.shape == (1, 1) and out.dtype == np.float64
    assert out[0, 0] == pytest.approx(y, abs=1e-12)


def test_rgb_to_y_gray_is_rgb_with_equal_channels() -> None:
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(rgb_to_y(gray), rgb_to_y(np.stack([gray] * 3, axis=-1)))


def test_crop_border() -> None:
    img = np.arange(7 * 6 * 3).reshape(7, 6, 3)
    np.testing.assert_array_equal(crop_border(img, 2), img[2:5, 2:4])
    assert crop_border(img, 0) is img


def test_psnr_direct_formula() -> None:
    a, b = _noisy_pair((20, 30))
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-12)
    assert psnr(np.zeros((4, 4)), np.ones((4, 4))) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(np.zeros((4, 4)), np.full((4, 4), 0.5), data_range=1.0) == pytest.approx(
        10 * math.log10(4), abs=1e-12)
    assert psnr(a, a) == math.inf


def _naive_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM with an explicit loop over every 11x11 window that fits inside the image."""
    t = np.arange(-5, 6)
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            x, y = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
            mx, my = np.sum(w * x), np.sum(w * y)
            vx, vy = np.sum(w * (x - mx) ** 2), np.sum(w * (y - my) ** 2)
            cxy = np.sum(w * (x - mx) * (y - my))
            values.append((2 * mx * my + c1) * (2 * cxy + c2)
                          / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


@pytest.mark.parametrize("shape", [(11, 11), (14, 19), (23, 16)])
def test_ssim_matches_naive_valid_windows(shape: tuple[int, int]) -> None:
    a, b = (x.astype(np.float64) for x in _noisy_pair(shape, seed=1))
    assert ssim(a, b) == pytest.approx(_naive_ssim(a, b), abs=1e-10)


@pytest.mark.parametrize("shape", [(11, 11), (40, 33), (96, 128)])
def test_ssim_matches_skimage(shape: tuple[int, int]) -> None:
    # skimage filters with reflect padding but then averages only the map cropped by 5 px, which
    # is exactly the valid region: the two agree to rounding error.
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a, b = (x.astype(np.float64) for x in _noisy_pair(shape, seed=2))
    expected = skimage_metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-10)


def test_ssim_identical_is_one() -> None:
    a, _ = _noisy_pair((30, 30))
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_evaluate_pair() -> None:
    sr, hr = _noisy_pair((32, 28, 3), seed=3)
    y_sr, y_hr = rgb_to_y(sr)[4:-4, 4:-4], rgb_to_y(hr)[4:-4, 4:-4]
    p, s = evaluate_pair(sr, hr, 4)
    assert p == pytest.approx(psnr(y_sr, y_hr), abs=1e-12)
    assert s == pytest.approx(_naive_ssim(y_sr, y_hr), abs=1e-10)
    assert evaluate_pair(hr, hr, 2) == (math.inf, pytest.approx(1.0, abs=1e-12))
    with pytest.raises(ValueError):
        evaluate_pair(sr, hr[:-1], 4)
