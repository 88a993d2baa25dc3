"""MATLAB-compatible bicubic `imresize` (bit-exact for uint8 images).

Reproduces MATLAB's `imresize(img, scale, 'bicubic')`: Keys cubic kernel (a = -0.5), antialiased
(kernel widened by 1/scale) when downscaling, per-output-pixel weight normalisation, one separable
pass per axis (the axis with the smaller scale first), and for uint8 input rounding back to uint8
after each pass, as imresizemex does. Out-of-range taps are clamped ("replicate", older MATLAB
releases, which made the classic benchmark LR sets) or mirrored ("symmetric", newer releases).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["LR_RECIPES", "LrRecipe", "cubic", "imresize", "make_lr"]

LrRecipe = Literal["basicsr", "matlab"]
LR_RECIPES: tuple[LrRecipe, ...] = ("basicsr", "matlab")

_KERNEL_WIDTH = 4.0
_BOUNDARIES = ("replicate", "symmetric")


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5, written as MATLAB's `cubic`."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return ((1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1)
            + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * ((1 < absx) & (absx <= 2)))


def _contributions(in_length: int, out_length: int, scale: float,
                   boundary: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-output weights and 0-based input indices along one axis, both (out_length, taps)."""
    width = _KERNEL_WIDTH
    if scale < 1:  # antialiasing: widen the kernel by 1/scale
        def kernel(x: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * x)
        width = width / scale
    else:
        kernel = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in 1-based input coordinates
    left = np.floor(u - width / 2)
    ind = left + np.arange(math.ceil(width) + 2)
    weights = kernel(u - ind)
    weights = weights / weights.sum(axis=1, keepdims=True)
    ind = ind.astype(np.int64) - 1
    if boundary == "replicate":
        ind = np.clip(ind, 0, in_length - 1)
    else:  # symmetric: mirror about the edges, edge pixel repeated
        ind = ind % (2 * in_length)
        ind = np.where(ind < in_length, ind, 2 * in_length - 1 - ind)
    keep = np.any(weights != 0, axis=0)  # MATLAB drops taps that are zero for every output
    return weights[:, keep], ind[:, keep]


def _resize_axis(img: np.ndarray, axis: int, out_length: int, scale: float,
                 boundary: str, to_uint8: bool) -> np.ndarray:
    """One separable pass along `axis`; taps are summed in order, like imresizemex."""
    weights, ind = _contributions(img.shape[axis], out_length, scale, boundary)
    src = np.ascontiguousarray(np.moveaxis(img, axis, 0))
    weights = weights.reshape(weights.shape + (1,) * (src.ndim - 1))
    out = np.zeros((out_length,) + src.shape[1:])
    term = np.empty_like(out)
    for k in range(ind.shape[1]):
        np.multiply(weights[:, k], src[ind[:, k]], out=term)
        out += term
    if to_uint8:
        out = _to_uint8(out)
    return np.moveaxis(out, 0, axis)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """MATLAB's conversion to uint8: round half away from zero, saturate."""
    rounded = np.floor(values)
    rounded += (values - rounded) >= 0.5
    return np.clip(rounded, 0, 255).astype(np.uint8)


def imresize(image: np.ndarray, scale: float | None = None,
             output_shape: tuple[int, int] | None = None,
             boundary: str = "replicate") -> np.ndarray:
    """Bicubic resize of an (H, W) or (H, W, C) array, exactly as MATLAB's `imresize`.

    Give exactly one of `scale` (output size ceil(H*scale) x ceil(W*scale)) or `output_shape`
    (H_out, W_out). uint8 input gives uint8 output, rounded after each pass; any other input is
    computed and returned as float64 without rounding.
    """
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    if boundary not in _BOUNDARIES:
        raise ValueError(f"boundary must be one of {_BOUNDARIES}, not {boundary!r}")
    if image.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array, got shape {image.shape}")
    in_shape = image.shape[:2]
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        scales = (float(scale), float(scale))
        out_shape = tuple(math.ceil(n * scale) for n in in_shape)
    else:
        assert output_shape is not None  # exactly one of the two was given
        out_shape = tuple(int(n) for n in output_shape)
        if min(out_shape) < 1:
            raise ValueError(f"output_shape must be positive, got {output_shape}")
        scales = tuple(o / n for o, n in zip(out_shape, in_shape))
    to_uint8 = image.dtype == np.uint8
    out = image if to_uint8 else image.astype(np.float64)
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # stable: height first on ties
        out = _resize_axis(out, axis, out_shape[axis], scales[axis], boundary, to_uint8)
    return np.ascontiguousarray(out)


def make_lr(hr: np.ndarray, scale: int, recipe: LrRecipe = "basicsr") -> np.ndarray:
    """Benchmark LR input (uint8): modcrop `hr` (uint8) to a multiple of `scale`, then bicubic 1/scale.

    - "basicsr": resized as float in [0, 1] with mirrored edges (newer MATLAB releases, and the
      Python port BasicSR uses), rounded to uint8 once at the end: the benchmark preparation of
      BasicSR-based papers, which reproduces their published numbers best.
    - "matlab": resized as uint8, the way the older MATLAB releases that made the classic LR files
      did (edges replicated, rounded after each pass): bit-exact with those files.
    """
    if hr.dtype != np.uint8:
        raise ValueError(f"make_lr expects a uint8 image, got {hr.dtype}")
    if recipe not in LR_RECIPES:
        raise ValueError(f"recipe must be one of {LR_RECIPES}, not {recipe!r}")
    h, w = hr.shape[:2]
    hr = hr[:h - h % scale, :w - w % scale]
    if recipe == "matlab":
        return imresize(hr, 1 / scale)
    return _to_uint8(imresize(hr / 255.0, 1 / scale, boundary="symmetric") * 255)
