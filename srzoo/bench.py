"""Throughput measurements: srzoo's inference paths against a plain fp32 forward, side by side."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from srzoo.inference import DTYPES, Upscaler, pick_device
from srzoo.models import build_model, get_family


@dataclass(frozen=True)
class BenchResult:
    """One measured setting. `mpx_per_s` counts output megapixels; `ratio_to_plain_fp32` is the
    speed relative to the plain fp32 forward of the same run. `precision` and `tile` say what was
    asked for and, for `auto`, what it chose (e.g. "auto (fp32)", "auto (whole image)"); `layout`
    is the memory format, NCHW or channels-last NHWC."""

    model: str
    scale: int
    device: str
    precision: str
    tile: str
    layout: str
    seconds: float
    mpx_per_s: float
    ratio_to_plain_fp32: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def time_interleaved(fns: list[Callable[[], object]], repeat: int, warmup: int,
                     device: torch.device) -> list[float]:
    """Median wall time of each of `fns` (CUDA synchronised), after `warmup` runs of each. The
    runs are interleaved round-robin, so that drifting machine load falls on every setting alike
    and the ratios between them stay fair."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for fn in fns:
        for _ in range(warmup):
            fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, seconds in zip(fns, times):
            start = time.perf_counter()
            fn()
            sync()
            seconds.append(time.perf_counter() - start)
    return [sorted(seconds)[len(seconds) // 2] for seconds in times]


LAYOUTS = {"auto": None, "nchw": False, "nhwc": True}


def bench_model(name: str, scale: int, size: tuple[int, int], device: str, precisions: list[str],
                tiles: list[str], repeat: int, warmup: int, layouts: tuple[str, ...] = ("auto",)
                ) -> list[BenchResult]:
    """Measure the plain fp32 forward and every precision x tile x layout setting of the
    Upscaler, interleaved. Random weights: throughput does not depend on the weights' values."""
    family = get_family(name)
    torch.manual_seed(0)
    model = build_model(family.name, scale).eval()
    dev = pick_device(device)
    image = torch.rand(1, 3, *size)
    out_mpx = size[0] * size[1] * scale * scale / 1e6

    plain = model.to(dev)
    lr = image.to(dev)

    @torch.inference_mode()
    def plain_forward() -> None:
        plain(lr).cpu()

    upscalers = [(precision, tile, layout,
                  Upscaler(model, family, scale, device=device, precision=precision,
                           tile="auto" if tile == "auto" else int(tile), channels_last=LAYOUTS[layout]))
                 for precision in precisions for tile in tiles for layout in layouts]
    runs = [plain_forward] + [lambda u=upscaler: u.quantised(image) for *_, upscaler in upscalers]
    base, *timed = time_interleaved(runs, repeat, warmup, dev)
    results = [BenchResult(family.name, scale, str(dev), "fp32", "plain forward", "nchw", base,
                           out_mpx / base, 1.0)]
    for (precision, tile, layout, upscaler), seconds in zip(upscalers, timed):
        chosen = "nhwc" if upscaler.memory_format == torch.channels_last else "nchw"
        results.append(BenchResult(
            family.name, scale, str(dev), _label(precision, _dtype_name(upscaler)),
            _label(tile, _tile_name(upscaler.tile_for(image))), _label(layout, chosen), seconds,
            out_mpx / seconds, base / seconds))
    return results


def _label(asked: str, chosen: str) -> str:
    return f"{asked} ({chosen})" if asked == "auto" else asked


def _dtype_name(upscaler: Upscaler) -> str:
    return next(name for name, dtype in DTYPES.items() if dtype == upscaler.dtype)


def _tile_name(tile: int) -> str:
    return "whole image" if tile == 0 else f"{tile} px"
