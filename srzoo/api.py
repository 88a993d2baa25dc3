"""The library entry point: `srzoo.upscale(image, model="lkdn", scale=4, ...)`, and the engine as
the plain functions that the batch and video code call."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from srzoo.engine.device import Precision
from srzoo.engine.upscaler import Backend, TileCallback, Tiling, Upscaler
from srzoo.media.images import (
    Network,
    Picture,
    from_pil,
    quantise,
    to_pil,
    upscale_pixels,
)
from srzoo.media.video import FrameNetwork
from srzoo.models import get_family
from srzoo.zoo.resolve import choose_network, load_pretrained

ImageLike = TypeVar("ImageLike", Image.Image, np.ndarray, torch.Tensor)


@lru_cache(maxsize=4)
def load_upscaler(model: str | None = None, scale: int | None = None, *, weights: Path | None = None,
                  device: str = "auto",
                  precision: Precision = "auto", tile: int | str = "auto", tile_overlap: int | None = None,
                  ensemble: bool = False, tiling: Tiling = "auto", backend: Backend = "auto") -> Upscaler:
    """The pretrained network wrapped in the tiling engine (cached: repeated calls reuse it).
    `model` and `scale` default to what `weights` holds, else to lkdn x4."""
    name, scale = choose_network(model, scale, weights)
    family = get_family(name)
    return Upscaler(load_pretrained(family.name, scale, weights), family, scale, device=device,
                    precision=precision, tile=tile, tile_overlap=tile_overlap, ensemble=ensemble,
                    tiling=tiling, backend=backend)


def network(upscaler: Upscaler, on_tile: TileCallback | None = None) -> Network:
    """The engine as a plain (B, 3, h, w) -> (B, 3, s*h, s*w) function, reporting tiles to `on_tile`."""
    return lambda batch: upscaler(batch, on_tile=on_tile)


def frame_network(upscaler: Upscaler) -> FrameNetwork:
    """The engine for video frames: results rounded to 8 or 16 bits on the device."""
    return lambda batch, bits: upscaler.quantised(batch, 16 if bits == 16 else 8)


def upscale(image: ImageLike, model: str | None = None, scale: int | None = None, *, weights: Path | None = None,
            device: str = "auto", precision: Precision = "auto", tile: int | str = "auto",
            tile_overlap: int | None = None, ensemble: bool = False) -> ImageLike:
    """Upscale a PIL image, a numpy array or a tensor; the result has the input's type.

    - PIL: L, LA, RGB, RGBA and 'I;16' keep their mode; palette, 1-bit and CMYK come back as
      RGB(A) or L. The ICC profile is kept in `info`.
    - numpy: (H, W) or (H, W, C), C = 1-4; uint8, uint16 or float in [0, 1]; dtype and shape kept.
    - torch: (C, H, W) or (B, C, H, W) float in [0, 1]; device and dtype kept.
    Grey is upscaled as RGB and averaged; alpha is upscaled separately with premultiplied colour.
    `model` and `scale` default to what `weights` holds, else to lkdn x4.
    """
    engine = network(load_upscaler(model, scale, weights=weights, device=device, precision=precision,
                                   tile=tile, tile_overlap=tile_overlap, ensemble=ensemble))
    if isinstance(image, Image.Image):
        return _upscale_pil(image, engine)
    if isinstance(image, np.ndarray):
        return _upscale_array(image, engine)
    if isinstance(image, torch.Tensor):
        return _upscale_tensor(image, engine)
    raise TypeError(f"cannot upscale a {type(image).__name__}: pass a PIL image, a numpy array or a tensor")


def _upscale_pil(image: Image.Image, engine: Network) -> Image.Image:
    picture = from_pil(image)
    return to_pil(Picture(upscale_pixels(picture.pixels, engine), bits=picture.bits, icc=picture.icc))


def _upscale_array(array: np.ndarray, engine: Network) -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise ValueError(f"expected an (H, W) or (H, W, C) array with C = 1-4, got shape {array.shape}")
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(array.dtype)
    pixels = array.astype(np.float32) / (2**depth - 1) if depth else array.astype(np.float32)
    result = upscale_pixels(pixels.reshape(*array.shape[:2], -1), engine)
    result = quantise(result, depth) if depth else result.astype(array.dtype)
    return result if array.ndim == 3 else result[..., 0]


def _upscale_tensor(tensor: torch.Tensor, engine: Network) -> torch.Tensor:
    if tensor.ndim not in (3, 4) or not tensor.is_floating_point() or not 1 <= tensor.shape[-3] <= 4:
        raise ValueError(f"expected a float (C, H, W) or (B, C, H, W) tensor with C = 1-4, got "
                         f"{tuple(tensor.shape)} {tensor.dtype}")
    batch = tensor.detach().float().cpu().reshape(-1, *tensor.shape[-3:])
    results = [torch.from_numpy(upscale_pixels(item.permute(1, 2, 0).numpy(), engine)).permute(2, 0, 1)
               for item in batch]
    return torch.stack(results).reshape(*tensor.shape[:-2], *results[0].shape[-2:]).to(tensor)
