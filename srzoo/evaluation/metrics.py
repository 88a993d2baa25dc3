"""PSNR/SSIM as the SR community reports them: Y channel of MATLAB's rgb2ycbcr, border cropped.

Matches BasicSR's `calculate_psnr` / `calculate_ssim` with `test_y_channel=True` (and the MATLAB
scripts they reproduce): Y is not rounded, SSIM uses an 11x11 Gaussian window (sigma 1.5) and is
averaged over the 'valid' region only.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["crop_border", "evaluate_pair", "psnr", "rgb_to_y", "ssim"]

_WIN_RADIUS = 5
_WIN_SIGMA = 1.5


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y of MATLAB's rgb2ycbcr for uint8 RGB (H, W, 3) or gray (H, W), as float64 in [16, 235]."""
    x = img.astype(np.float64) / 255.0
    if x.ndim == 2:
        x = np.stack([x, x, x], axis=-1)
    return 16.0 + x @ np.array([65.481, 128.553, 24.966])


def crop_border(img: np.ndarray, n: int) -> np.ndarray:
    """Drop `n` pixels from each side of the first two axes."""
    if n == 0:
        return img
    return img[n:-n, n:-n]


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf when the images are identical)."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    if mse == 0:
        return math.inf
    return float(10.0 * np.log10(data_range**2 / mse))


def _gaussian_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation of `x` with `g` (x) `g`, 'valid' region only."""
    n = len(g)
    h, w = x.shape[0] - n + 1, x.shape[1] - n + 1
    rows = sum(g[k] * x[k:k + h] for k in range(n))
    return sum(g[k] * rows[:, k:k + w] for k in range(n))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004) of two 2-D images over the valid 11x11-window region."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.arange(-_WIN_RADIUS, _WIN_RADIUS + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * _WIN_SIGMA**2))
    g /= g.sum()
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_a, mu_b = _gaussian_valid(a, g), _gaussian_valid(b, g)
    var_a = _gaussian_valid(a * a, g) - mu_a**2
    var_b = _gaussian_valid(b * b, g) - mu_b**2
    cov = _gaussian_valid(a * b, g) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
                / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return float(ssim_map.mean())


def evaluate_pair(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """(PSNR, SSIM) of uint8 RGB `sr` against `hr` on Y, with `scale` pixels cropped per border."""
    if sr.shape != hr.shape:
        raise ValueError(f"sr {sr.shape} and hr {hr.shape} differ in shape")
    y_sr = crop_border(rgb_to_y(sr), scale)
    y_hr = crop_border(rgb_to_y(hr), scale)
    return psnr(y_sr, y_hr), ssim(y_sr, y_hr)
